package storage

import (
	"encoding/json"
	"testing"
)

// TestAccessLogPolicy: S3 log delivery may write only the avatar bucket's
// logs, under the prefix, for this account; nothing reaches the log bucket
// without TLS.
func TestAccessLogPolicy(t *testing.T) {
	const (
		logs   = "arn:aws:s3:::gopherops-prod-blobs-access-logs-1a2b"
		source = "arn:aws:s3:::gopherops-prod-blobs-3c4d"
	)
	doc, err := AccessLogPolicy(logs, source, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Sid       string
			Effect    string
			Principal any
			Action    any
			Resource  any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Statement) != 2 {
		t.Fatalf("%d statements, want TLS-only and log delivery", len(p.Statement))
	}
	for _, st := range p.Statement {
		switch st.Sid {
		case "DenyInsecureTransport":
			if st.Effect != "Deny" || st.Condition["Bool"]["aws:SecureTransport"] != "false" {
				t.Errorf("TLS statement = %+v", st)
			}
		case "S3ServerAccessLogDelivery":
			if st.Effect != "Allow" || st.Action != "s3:PutObject" || st.Resource != logs+"/"+AccessLogPrefix+"*" {
				t.Errorf("delivery statement = %+v", st)
			}
			if st.Condition["ArnLike"]["aws:SourceArn"] != source || st.Condition["StringEquals"]["aws:SourceAccount"] != "123456789012" {
				t.Errorf("delivery is not limited to the avatar bucket of this account: %v", st.Condition)
			}
		default:
			t.Errorf("unexpected statement %s", st.Sid)
		}
	}
	if _, err := AccessLogPolicy("", source, "1"); err == nil {
		t.Error("an empty log bucket ARN was accepted")
	}
}
