package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"
)

// StackFile is the `config:` section of a Pulumi.<stack>.yaml file.
type StackFile struct {
	// Values are the plain settings as the Pulumi engine hands them to the
	// program: scalars as strings, lists and maps as JSON.
	Values map[string]string
	// Secure lists the keys stored encrypted (`secure: v1:...`).
	Secure []string
}

// ReadStackFile parses a stack file, so tests and tools load exactly what is
// committed.
func ReadStackFile(path string) (*StackFile, error) {
	raw, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return nil, fmt.Errorf("read stack file: %w", err)
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse stack file %s: %w", path, err)
	}
	sf := &StackFile{Values: map[string]string{}}
	for key, v := range doc.Config {
		switch val := v.(type) {
		case string:
			sf.Values[key] = val
		case bool, int, float64:
			sf.Values[key] = fmt.Sprint(val)
		case map[string]any:
			if _, ok := val["secure"]; ok && len(val) == 1 {
				sf.Secure = append(sf.Secure, key)
			} else if err := sf.setJSON(path, key, val); err != nil {
				return nil, err
			}
		case []any:
			if err := sf.setJSON(path, key, val); err != nil {
				return nil, err
			}
		case nil:
			sf.Values[key] = ""
		default:
			return nil, fmt.Errorf("stack file %s: %s has unsupported type %T", path, key, v)
		}
	}
	sort.Strings(sf.Secure)
	return sf, nil
}

// setJSON records a list or map setting as the engine hands it to the
// program: as JSON.
func (sf *StackFile) setJSON(path, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("stack file %s: %s: %w", path, key, err)
	}
	sf.Values[key] = string(b)
	return nil
}
