package ui

import "github.com/a-h/templ"

// field describes one input of a form for formField.
type field struct {
	Form  string // the form it belongs to: its errors and values
	Name  string
	ID    string
	Label string
	Hint  string
	Type  string // "" is text
	Value string // shown unless the form came back with another
	Attrs templ.Attributes
	// Focus gives the field the focus when the form did not come back
	// with errors (which decide the focus then).
	Focus bool
}

// describedBy is a field's aria-describedby: its hint and its error.
func describedBy(f field, hasErr bool) string {
	d := ""
	if f.Hint != "" {
		d = f.ID + "-hint"
	}
	if hasErr {
		if d != "" {
			d += " "
		}
		d += f.ID + "-error"
	}
	return d
}

// or is s, or fallback when s is empty.
func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// The attributes of the forms' inputs, shared where the rules are.
var (
	createUsernameAttrs = templ.Attributes{"required": true, "pattern": `[A-Za-z0-9._\-]{3,50}`, "autocomplete": "off",
		"autocapitalize": "none", "spellcheck": "false"}
	newPasswordAttrs     = templ.Attributes{"required": true, "minlength": "15", "autocomplete": "new-password", "data-reveal": true}
	confirmPasswordAttrs = templ.Attributes{"required": true, "autocomplete": "new-password", "data-reveal": true}
)

// editUsernameAttrs are the edit form's checks of a username.
var editUsernameAttrs = templ.Attributes{"required": true, "pattern": `[A-Za-z0-9._\-]{3,50}`, "autocapitalize": "none", "spellcheck": "false"}
