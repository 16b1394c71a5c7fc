package identity_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/seatline/seatline/identity"
	"github.com/seatline/seatline/internal/testenv"
)

type noMail struct{}

func (noMail) Notify(context.Context, identity.Notice) error { return nil }

func service(b *testing.B) *identity.Service {
	keys, _ := identity.ParseKeys("bench-secret-bench-secret-bench-secret")
	tokens, _ := identity.NewTokens(keys, 0, nil)
	key := sha256.Sum256([]byte("k"))
	s, err := identity.NewService(testenv.Database(b), tokens, noMail{}, identity.Options{TOTPKey: key[:], IPBudget: 1 << 30, PublicURL: "http://x"})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkLoginEnumeration compares a failed login for an existing
// account with one for an unknown email, with the production argon2id
// cost: if they differ much, timing tells who has an account. Compare the
// two sub-benchmarks' ns/op (same run).
func BenchmarkLoginEnumeration(b *testing.B) {
	ctx := context.Background()
	s := service(b)
	const accounts = 40 // failures spread so that no account reaches its lockout
	for i := 0; i < accounts; i++ {
		if err := s.Register(ctx, fmt.Sprintf("known%d@example.com", i), "the right passphrase", "Known", "ip"); err != nil {
			b.Fatal(err)
		}
	}
	for _, who := range []string{"known", "unknown"} {
		b.Run(who, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				// A different client address each time, so that the
				// address lockout does not answer early either.
				_, err := s.Login(ctx, fmt.Sprintf("%s%d@example.com", who, i%accounts), "a wrong passphrase", fmt.Sprint(i))
				if err != identity.ErrInvalidCredentials {
					b.Fatalf("login answered %v", err)
				}
			}
		})
	}
}

// BenchmarkRegisterEnumeration compares registering a new address with
// registering one that has an account.
func BenchmarkRegisterEnumeration(b *testing.B) {
	ctx := context.Background()
	s := service(b)
	_ = s.Register(ctx, "taken@example.com", "the right passphrase", "Taken", "ip")
	b.Run("new", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = s.Register(ctx, fmt.Sprintf("new%d-%d@example.com", b.N, i), "another passphrase", "New", "ip")
		}
	})
	b.Run("existing", func(b *testing.B) {
		for b.Loop() {
			_ = s.Register(ctx, "taken@example.com", "another passphrase", "Again", "ip")
		}
	})
}
