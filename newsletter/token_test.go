package newsletter

import (
	"strings"
	"testing"
)

// Unsubscribe links are signed: a changed address or signature is refused,
// and links signed with an older key keep working after a rotation.
func TestUnsubscribeTokens(t *testing.T) {
	old := &Service{keys: [][]byte{[]byte("old key")}, publicURL: "http://x"}
	rotated := &Service{keys: [][]byte{[]byte("new key"), []byte("old key")}, publicURL: "http://x"}
	tok := strings.TrimPrefix(old.UnsubscribeLink("ann@example.com"), "http://x/api/v1/newsletter/unsubscribe?token=")
	for _, s := range []*Service{old, rotated} {
		if e, err := s.CheckUnsubscribe(tok); err != nil || e != "ann@example.com" {
			t.Fatalf("valid token: %q %v", e, err)
		}
	}
	body, sig, _ := strings.Cut(tok, ".")
	other := strings.TrimPrefix(old.UnsubscribeLink("bob@example.com"), "http://x/api/v1/newsletter/unsubscribe?token=")
	otherBody, _, _ := strings.Cut(other, ".")
	for _, bad := range []string{"", ".", body, body + ".", otherBody + "." + sig, body + "." + sig + "x", "!!." + sig} {
		if _, err := rotated.CheckUnsubscribe(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	newer := &Service{keys: [][]byte{[]byte("newer")}}
	if _, err := newer.CheckUnsubscribe(tok); err == nil {
		t.Error("a token of a retired key was accepted")
	}
}
