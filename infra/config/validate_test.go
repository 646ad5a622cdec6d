package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// problems are the lines of a configuration error, one per problem, without
// the heading line.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	_, list, _ := strings.Cut(err.Error(), "\n")
	return strings.Split(list, "\n")
}

// TestSettingLimits: every setting with a range is tried at both ends. The
// last value inside is accepted; the first outside is refused by a line
// naming the key (msg, empty for a value that must be accepted).
func TestSettingLimits(t *testing.T) {
	n40 := "a" + strings.Repeat("b", 39) // the longest cluster name
	n63 := "a" + strings.Repeat("b", 62) // the longest RDS identifier
	cases := []struct {
		name  string
		stack string
		conf  map[string]string
		key   string
		msg   string
	}{
		// The app, on every kind of stack.
		{"hpa target at 10%", "dev", with(validDev(), "gopherops:hpaCpuUtilization", "10"), "", ""},
		{"hpa target at 100%", "dev", with(validDev(), "gopherops:hpaCpuUtilization", "100"), "", ""},
		{"hpa target at 9%", "dev", with(validDev(), "gopherops:hpaCpuUtilization", "9"),
			"gopherops:hpaCpuUtilization", "9 must be a percentage between 10 and 100"},
		{"hpa target at 101%", "local", with(validLocal(), "gopherops:hpaCpuUtilization", "101"),
			"gopherops:hpaCpuUtilization", "101 must be a percentage between 10 and 100"},
		{"cpu request equal to its limit", "dev", with(validDev(), "gopherops:cpuRequest", "1000m", "gopherops:cpuLimit", "1"), "", ""},
		{"memory request equal to its limit", "dev", with(validDev(), "gopherops:memoryRequest", "512Mi", "gopherops:memoryLimit", "512Mi"), "", ""},
		{"memory limit of exactly 64Mi", "local", with(validLocal(), "gopherops:memoryRequest", "32Mi", "gopherops:memoryLimit", "64Mi"), "", ""},
		{"memory limit below 64Mi", "local", with(validLocal(), "gopherops:memoryRequest", "32Mi", "gopherops:memoryLimit", "63Mi"),
			"gopherops:memoryLimit", "63Mi is below the 64Mi the service needs"},
		{"every log level", "dev", with(validDev(), "gopherops:logLevel", "debug"), "", ""},
		{"unknown log level", "dev", with(validDev(), "gopherops:logLevel", "verbose"),
			"gopherops:logLevel", `"verbose" must be one of debug, info, warn, error`},
		{"grafana password of exactly 12 characters", "dev", with(validDev(), "gopherops:monitoringEnabled", "true",
			"gopherops:grafanaAdminPassword", "twelve-chars"), "", ""},
		{"grafana password of 11 characters", "dev", with(validDev(), "gopherops:monitoringEnabled", "true",
			"gopherops:grafanaAdminPassword", "eleven-char"), "gopherops:grafanaAdminPassword", "is required (12+ characters)"},
		{"monitoring in the app's namespace", "dev", with(validDev(), "gopherops:monitoringEnabled", "true",
			"gopherops:grafanaAdminPassword", "twelve-chars", "gopherops:monitoringNamespace", "gopherops"),
			"gopherops:monitoringNamespace", `"gopherops" must be a valid namespace name other than the app's`},

		// The AWS stacks.
		{"vpc of a /22", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.0/22"), "", ""},
		{"vpc of a /23", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.0/23"),
			"gopherops:vpcCidr", "between /16 and /22"},
		{"vpc on an IPv6 network", "dev", with(validDev(), "gopherops:vpcCidr", "fd00::/16"),
			"gopherops:vpcCidr", `"fd00::/16" is not a valid IPv4 network CIDR`},
		{"one availability zone", "dev", with(validDev(), "gopherops:availabilityZoneCount", "1"),
			"gopherops:availabilityZoneCount", "1 must be 2 or 3"},
		{"four availability zones", "dev", with(validDev(), "gopherops:availabilityZoneCount", "4"),
			"gopherops:availabilityZoneCount", "4 must be 2 or 3"},
		{"cluster name of 40 characters", "dev", with(validDev(), "gopherops:clusterName", n40), "", ""},
		{"cluster name of 41 characters", "dev", with(validDev(), "gopherops:clusterName", n40+"c"),
			"gopherops:clusterName", "must be at most 40 lower-case letters"},
		{"short cluster name in capitals", "dev", with(validDev(), "gopherops:clusterName", "GopherOps"),
			"gopherops:clusterName", `"GopherOps" must be at most 40 lower-case letters`},
		{"one node at least", "dev", with(validDev(), "gopherops:nodeMinSize", "1", "gopherops:nodeDesiredSize", "1"), "", ""},
		{"no node at least", "dev", with(validDev(), "gopherops:nodeMinSize", "0", "gopherops:nodeDesiredSize", "1"),
			"gopherops:nodeMinSize", "0 must be at least 1"},
		{"node group of a fixed size", "dev", with(validDev(), "gopherops:nodeMinSize", "3", "gopherops:nodeDesiredSize", "3",
			"gopherops:nodeMaxSize", "3"), "", ""},
		{"nodes desired at the maximum", "dev", with(validDev(), "gopherops:nodeDesiredSize", "4", "gopherops:nodeMaxSize", "4"), "", ""},
		{"nodes desired below the minimum", "dev", with(validDev(), "gopherops:nodeMinSize", "2", "gopherops:nodeDesiredSize", "1"),
			"gopherops:nodeDesiredSize", "1 must lie between gopherops:nodeMinSize and gopherops:nodeMaxSize"},
		{"nodes desired above the maximum", "dev", with(validDev(), "gopherops:nodeDesiredSize", "5", "gopherops:nodeMaxSize", "4"),
			"gopherops:nodeDesiredSize", "5 must lie between"},
		{"KMS key deleted after 7 days", "dev", with(validDev(), "gopherops:kmsKeyDeletionWindowDays", "7"), "", ""},
		{"KMS key deleted after 6 days", "dev", with(validDev(), "gopherops:kmsKeyDeletionWindowDays", "6"),
			"gopherops:kmsKeyDeletionWindowDays", "6 must be between 7 and 30"},
		{"KMS key deleted after 31 days", "dev", with(validDev(), "gopherops:kmsKeyDeletionWindowDays", "31"),
			"gopherops:kmsKeyDeletionWindowDays", "31 must be between 7 and 30"},
		{"database storage that cannot grow", "dev", with(validDev(), "gopherops:dbAllocatedStorageGiB", "20",
			"gopherops:dbMaxAllocatedStorageGiB", "20"), "", ""},
		{"database backups kept a day", "dev", with(validDev(), "gopherops:dbBackupRetentionDays", "1"), "", ""},
		{"database backups kept 35 days", "prod", with(validProd(), "gopherops:dbBackupRetentionDays", "35"), "", ""},
		{"database backups kept no day", "dev", with(validDev(), "gopherops:dbBackupRetentionDays", "0"),
			"gopherops:dbBackupRetentionDays", "0 must be between 1 and 35"},
		{"database backups kept 36 days", "dev", with(validDev(), "gopherops:dbBackupRetentionDays", "36"),
			"gopherops:dbBackupRetentionDays", "36 must be between 1 and 35"},
		{"old object versions kept a day", "dev", with(validDev(), "gopherops:bucketNoncurrentVersionDays", "1"), "", ""},
		{"old object versions kept no day", "dev", with(validDev(), "gopherops:bucketNoncurrentVersionDays", "0"),
			"gopherops:bucketNoncurrentVersionDays", "0 must be at least 1"},
		{"API endpoint open to an IPv6 network", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["2600:1f18::/32"]`),
			"gopherops:clusterEndpointPublicCidrs", `"2600:1f18::/32" is not a valid IPv4 CIDR`},
		{"restore source of 63 characters", "dev", with(validDev(), "gopherops:dbRestoreTime", "latest",
			"gopherops:dbRestoreSource", n63), "", ""},
		{"restore source of 64 characters", "dev", with(validDev(), "gopherops:dbRestoreTime", "latest",
			"gopherops:dbRestoreSource", n63+"c"), "gopherops:dbRestoreSource", "is not an RDS instance identifier"},

		// The in-cluster stacks.
		{"local volumes of exactly 64Mi", "local", with(validLocal(), "gopherops:postgresStorageSize", "64Mi",
			"gopherops:blobStorageSize", "64Mi"), "", ""},
		{"kube context with a blank", "local", with(validLocal(), "gopherops:kubeContext", "kind gopherops"),
			"gopherops:kubeContext", `"kind gopherops" is not a kubeconfig context name`},
		{"local with a domain name only", "local", with(validLocal(), "gopherops:domainName", "gopherops.example.com"),
			"gopherops:certificateArn", "local environment cannot use"},
		{"local with a certificate only", "local", with(validLocal(), "gopherops:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"),
			"gopherops:certificateArn", "local environment cannot use"},
		{"one backup kept", "local", with(validLocal(), "gopherops:backupRetentionCount", "1"), "", ""},
		{"a week of hourly backups kept", "local", with(validLocal(), "gopherops:backupRetentionCount", "168"), "", ""},
		{"169 backups kept", "local", with(validLocal(), "gopherops:backupRetentionCount", "169"),
			"gopherops:backupRetentionCount", "169 must be between 1 and 168"},
		{"backup volume of exactly 64Mi", "pr-7", with(validPR(), "gopherops:backupStorageSize", "64Mi"), "", ""},
		{"one pull-request stack at a time", "pr-7", with(validPR(), "gopherops:prStackLimit", "1"), "", ""},
		{"50 pull-request stacks", "pr-7", with(validPR(), "gopherops:prStackLimit", "50"), "", ""},
		{"51 pull-request stacks", "pr-7", with(validPR(), "gopherops:prStackLimit", "51"),
			"gopherops:prStackLimit", "51 must be between 1 and 50"},
		{"quota of 4 pods", "pr-7", with(validPR(), "gopherops:quotaPods", "4"), "", ""},
		{"quota of 100 pods", "pr-7", with(validPR(), "gopherops:quotaPods", "100"), "", ""},
		{"quota of 101 pods", "pr-7", with(validPR(), "gopherops:quotaPods", "101"),
			"gopherops:quotaPods", "101 must be between 4 and 100"},
		{"storage quota of exactly 64Mi", "pr-7", with(validPR(), "gopherops:quotaStorage", "64Mi"), "", ""},
		{"storage quota below 64Mi", "pr-7", with(validPR(), "gopherops:quotaStorage", "63Mi"),
			"gopherops:quotaStorage", "63Mi is below 64Mi"},
		{"app memory limit equal to the LimitRange's", "pr-7", with(validPR(), "gopherops:memoryLimit", "1Gi",
			"gopherops:containerMaxMemory", "1Gi"), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(FromMap(tc.conf), "gopherops", tc.stack)
			if tc.key == "" {
				if err != nil {
					t.Fatalf("refused a value inside the limits: %v", err)
				}
				return
			}
			for _, l := range problems(err) {
				if strings.HasPrefix(l, tc.key+":") && strings.Contains(l, tc.msg) {
					return
				}
			}
			t.Errorf("no error line for %s containing %q; got:\n%v", tc.key, tc.msg, err)
		})
	}
}

// TestEachProblemReportedOnce: a bad setting gets its own line and no other,
// so an operator fixes what is wrong and nothing else: a malformed limit is
// not also "exceeded" by its request, every bad CIDR of a list is reported,
// and a CIDR over two reserved ranges is reported once.
func TestEachProblemReportedOnce(t *testing.T) {
	const cidrs = "gopherops:clusterEndpointPublicCidrs"
	cases := []struct {
		name  string
		stack string
		conf  map[string]string
		want  []string // each line, in order
	}{
		{"malformed cpu limit", "dev", with(validDev(), "gopherops:cpuLimit", "lots"),
			[]string{`gopherops:cpuLimit: invalid CPU quantity "lots"`}},
		{"malformed memory limit", "dev", with(validDev(), "gopherops:memoryLimit", "lots"),
			[]string{`gopherops:memoryLimit: invalid memory quantity "lots"`}},
		{"three bad endpoint CIDRs", "dev", with(validDev(), cidrs, `["1.2.3/24","0.0.0.0/0","10.1.0.0/16","`+operatorCIDR+`"]`),
			[]string{
				cidrs + `: "1.2.3/24" is not a valid IPv4 CIDR`,
				cidrs + `: "0.0.0.0/0" opens the Kubernetes API to the whole internet`,
				cidrs + `: "10.1.0.0/16" lies in the reserved range 10.0.0.0/8`,
			}},
		{"endpoint CIDR over two reserved ranges", "dev", with(validDev(), cidrs, `["192.0.0.0/16"]`),
			[]string{cidrs + `: "192.0.0.0/16" lies in the reserved range 192.0.0.0/24`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(FromMap(tc.conf), "gopherops", tc.stack)
			got := problems(err)
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], tc.want[i])
			}
			if !ok {
				t.Errorf("problems:\n%s\nwant lines starting with:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestPreviewNamespaceOnlyForPullRequests: a stack named pr-<number> that
// declares another environment is not a pull request's and keeps the
// default namespace.
func TestPreviewNamespaceOnlyForPullRequests(t *testing.T) {
	cfg, err := Parse(FromMap(with(validLocal(), "gopherops:environment", EnvLocal)), "gopherops", "pr-7")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.App.Namespace != "gopherops" {
		t.Errorf("namespace = %q, want gopherops", cfg.App.Namespace)
	}
}

// TestSecretSays: a secret prints whether it is set, never what it holds.
func TestSecretSays(t *testing.T) {
	for _, tc := range []struct {
		s    Secret
		want string
	}{
		{Secret{}, "<unset>"},
		{NewSecret(""), "<unset>"},
		{NewSecret("hunter2"), "<secret>"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if got := tc.s.GoString(); got != tc.want {
			t.Errorf("GoString() = %q, want %q", got, tc.want)
		}
	}
}

// TestReadStackFileSecureValues: a `secure:` value is listed as encrypted
// and kept out of the plain values; lists and maps, even one that merely has
// a secure key among others, are plain values in JSON.
func TestReadStackFileSecureValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	doc := `config:
  gopherops:sessionKey:
    secure: v1:AAAA
  gopherops:grafanaAdminPassword:
    secure: v1:BBBB
  gopherops:imageTag: "1.2.3"
  gopherops:minReplicas: 2
  gopherops:operatorArns:
    - arn:aws:iam::123456789012:role/ops
  aws:defaultTags:
    tags:
      Project: gopherops
  gopherops:odd:
    secure: v1:CCCC
    other: x
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	sf, err := ReadStackFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gopherops:grafanaAdminPassword", "gopherops:sessionKey"}; !slices.Equal(sf.Secure, want) {
		t.Errorf("Secure = %v, want %v", sf.Secure, want)
	}
	want := map[string]string{
		"gopherops:imageTag":     "1.2.3",
		"gopherops:minReplicas":  "2",
		"gopherops:operatorArns": `["arn:aws:iam::123456789012:role/ops"]`,
		"aws:defaultTags":        `{"tags":{"Project":"gopherops"}}`,
		"gopherops:odd":          `{"other":"x","secure":"v1:CCCC"}`,
	}
	if len(sf.Values) != len(want) {
		t.Errorf("Values = %v, want %v", sf.Values, want)
	}
	for k, v := range want {
		if sf.Values[k] != v {
			t.Errorf("Values[%s] = %q, want %q", k, sf.Values[k], v)
		}
	}
}

// TestLoad: the running stack's configuration is read from the engine, a
// secret only when it was set with --secret.
func TestLoad(t *testing.T) {
	cases := []struct {
		name    string
		secrets []string // the keys the engine holds encrypted
		want    string   // "" when Load must succeed
	}{
		{"session key set with --secret", []string{"gopherops:sessionKey"}, ""},
		{"session key in plain text", nil, "gopherops:sessionKey is stored in plain text; set it with `pulumi config set --secret gopherops:sessionKey`"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf, _ := json.Marshal(with(validDev(), "gopherops:minReplicas", "3"))
			keys, _ := json.Marshal(tc.secrets)
			t.Setenv(pulumi.EnvConfig, string(conf))
			t.Setenv(pulumi.EnvConfigSecretKeys, string(keys))
			var cfg *Config
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				var err error
				cfg, err = Load(ctx)
				return err
			}, pulumi.WithMocks("gopherops", "dev", mocks.New()))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg == nil || cfg.Stack != "dev" || cfg.Region != "us-east-1" || cfg.App.MinReplicas != 3 || !cfg.App.SessionKey.IsSet() {
				t.Errorf("Load = %+v, want the dev stack's settings", cfg)
			}
		})
	}
}
