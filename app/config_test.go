package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestNoSecretHasADefault: with a real database the engine refuses to
// start without a JWT secret of at least 32 bytes; every problem is listed
// at once.
func TestNoSecretHasADefault(t *testing.T) {
	t.Parallel()
	_, err := app.FromEnv(env(map[string]string{"MONGO_URI": "mongodb://db:27017"}))
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("a missing JWT_SECRET was accepted: %v", err)
	}
	_, err = app.FromEnv(env(map[string]string{"MONGO_URI": "mongodb://db:27017", "JWT_SECRET": "short", "HOLD_TTL": "forever",
		"PAYMENT_WEBHOOK_SECRET": "x", "ROLE": "api"}))
	for _, want := range []string{"JWT_SECRET", "HOLD_TTL", "PAYMENT_WEBHOOK_SECRET", "ROLE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("problems not all reported (%s missing): %v", want, err)
		}
	}
	if _, err := app.FromEnv(env(map[string]string{"MONGO_URI": "mongodb://db:27017", "JWT_SECRET": strings.Repeat("s", 32)})); err != nil {
		t.Fatalf("a good configuration was refused: %v", err)
	}
	if _, err := app.FromEnv(env(map[string]string{"JWT_SECRET": "new:" + strings.Repeat("n", 32) + ",old:" + strings.Repeat("o", 32)})); err != nil {
		t.Fatalf("a rotation list was refused: %v", err)
	}
	if _, err := app.FromEnv(env(map[string]string{"JWT_SECRET": "new:" + strings.Repeat("n", 32) + ",old:short"})); err == nil {
		t.Fatal("a short key in a rotation list was accepted")
	}
}

// TestEmbeddedDefaultKeepsAGeneratedSecret: without configuration the
// engine generates a JWT secret once, keeps it in its data directory
// (mode 0600) and uses it again after a restart.
func TestEmbeddedDefaultKeepsAGeneratedSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := app.FromEnv(env(map[string]string{"DATA_DIR": dir, "MONGO_DB": testenv.DBName(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = testenv.Logger(t)
	a, err := app.New(context.Background(), cfg, app.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	path := filepath.Join(dir, "jwt-secret")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	first, _ := os.ReadFile(path)
	a, err = app.New(context.Background(), cfg, app.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if again, _ := os.ReadFile(path); string(again) != string(first) || len(strings.TrimSpace(string(first))) < 32 {
		t.Fatal("the generated secret changed across restarts")
	}
}
