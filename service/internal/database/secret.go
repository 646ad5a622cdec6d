package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretCredentials reads the user name and password from an AWS Secrets
// Manager secret (the JSON {"username","password"} that RDS manages), caching
// them for a few minutes so a rotation is picked up by new connections.
type SecretCredentials struct {
	client *secretsmanager.Client
	arn    string
	ttl    time.Duration
	now    func() time.Time

	mu       sync.Mutex
	user     string
	password string
	fetched  time.Time
}

// SecretOptions tune NewSecretCredentials.
type SecretOptions struct {
	// TTL is how long fetched credentials are reused; 0 means five minutes.
	TTL time.Duration
	// Endpoint overrides the Secrets Manager endpoint (tests, VPC endpoints).
	Endpoint string
}

// NewSecretCredentials uses the default AWS credential chain (IRSA on EKS).
func NewSecretCredentials(ctx context.Context, arn string, opts SecretOptions) (*SecretCredentials, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: load AWS config: %w", err)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	ttl := opts.TTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	return &SecretCredentials{client: client, arn: arn, ttl: ttl, now: time.Now}, nil
}

// Credentials implements Credentials.
func (s *SecretCredentials) Credentials(ctx context.Context) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user != "" && s.now().Sub(s.fetched) < s.ttl {
		return s.user, s.password, nil
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.arn)})
	if err != nil {
		if s.user != "" {
			// Keep serving with the last known credentials while AWS is unreachable.
			return s.user, s.password, nil
		}
		return "", "", fmt.Errorf("database: read secret: %w", err)
	}
	var v struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if out.SecretString == nil || json.Unmarshal([]byte(*out.SecretString), &v) != nil || v.Username == "" || v.Password == "" {
		return "", "", errors.New("database: the secret is not JSON with username and password")
	}
	s.user, s.password, s.fetched = v.Username, v.Password, s.now()
	return s.user, s.password, nil
}
