package rules

import "slices"

// Bucket types, and the companion resources that configure a bucket.
const (
	typeBucketV2          = "aws:s3/bucketV2:BucketV2"
	typeBucket            = "aws:s3/bucket:Bucket"
	typePublicAccessBlock = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	typeBucketPolicy      = "aws:s3/bucketPolicy:BucketPolicy"
)

var (
	encryptionTypes = []string{
		"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
		"aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
	}
	versioningTypes = []string{
		"aws:s3/bucketVersioningV2:BucketVersioningV2",
		"aws:s3/bucketVersioning:BucketVersioning",
	}
	// sseAlgorithms are the default encryptions S3 accepts.
	sseAlgorithms = []string{"AES256", "aws:kms", "aws:kms:dsse"}
)

// companion judges one companion resource of a bucket: ok when it does its
// part, unknown listing what the preview does not know yet.
type companion func(r *Resource) (ok bool, unknown []string)

// eachBucket runs, for every bucket of the stack, judge on the companions of
// the given types that configure it (matched by bucket name, or while the
// name is unknown by what the companion's bucket was computed from), and
// reports a bucket that no companion configures as required.
func eachBucket(rs []*Resource, report func(*Resource) *Check, types []string, judge companion, what string) {
	var companions []*Resource
	for _, r := range rs {
		if slices.Contains(types, r.Type) {
			companions = append(companions, r)
		}
	}
	for _, b := range rs {
		if b.Type != typeBucketV2 && b.Type != typeBucket {
			continue
		}
		name := b.props().get("bucket")
		var unknown []string
		ok := false
		for _, comp := range companions {
			target := comp.props().get("bucket")
			bucketName, known := name.str()
			switch {
			case target.unknown() || name.unknown():
				if !comp.dependsOn("bucket", b.URN) {
					continue
				}
			case !known:
				continue
			default:
				if s, _ := target.str(); s != bucketName {
					continue
				}
			}
			good, unk := judge(comp)
			if good {
				ok = true
				break
			}
			unknown = append(unknown, unk...)
		}
		if ok {
			continue
		}
		c := report(b)
		if len(unknown) > 0 {
			for _, p := range unknown {
				c.Unknown(p)
			}
			continue
		}
		c.Failf("bucket %s has no %s", show(name), what)
	}
}

func s3PublicAccessBlock(_ Env, rs []*Resource, report func(*Resource) *Check) {
	eachBucket(rs, report, []string{typePublicAccessBlock}, func(r *Resource) (bool, []string) {
		var unknown []string
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			f := r.props().get(k)
			if f.unknown() {
				unknown = append(unknown, f.path)
				continue
			}
			if on, _ := f.boolean(); !on {
				return false, nil
			}
		}
		return len(unknown) == 0, unknown
	}, "public access block with all four settings on")
}

func s3TLSOnly(_ Env, rs []*Resource, report func(*Resource) *Check) {
	eachBucket(rs, report, []string{typeBucketPolicy}, func(r *Resource) (bool, []string) {
		doc := r.props().get("policy")
		if doc.unknown() {
			return false, []string{doc.path}
		}
		s, _ := doc.str()
		return deniesInsecureTransport(s), nil
	}, "bucket policy denying every request without TLS (aws:SecureTransport false)")
}

func s3Encryption(_ Env, rs []*Resource, report func(*Resource) *Check) {
	eachBucket(rs, report, encryptionTypes, func(r *Resource) (bool, []string) {
		rules := r.props().get("rules")
		if rules.unknown() {
			return false, []string{rules.path}
		}
		for _, rule := range rules.items() {
			alg := rule.at("applyServerSideEncryptionByDefault", "sseAlgorithm")
			if alg.unknown() {
				return false, []string{alg.path}
			}
			if s, _ := alg.str(); slices.Contains(sseAlgorithms, s) {
				return true, nil
			}
		}
		return false, nil
	}, "default server-side encryption")
}

func s3Versioning(_ Env, rs []*Resource, report func(*Resource) *Check) {
	eachBucket(rs, report, versioningTypes, func(r *Resource) (bool, []string) {
		status := r.props().at("versioningConfiguration", "status")
		if status.unknown() {
			return false, []string{status.path}
		}
		s, _ := status.str()
		return s == "Enabled", nil
	}, "versioning enabled")
}
