package booking

import (
	"crypto/sha256"
	"encoding/base32"
)

// Code is the short code a customer shows at the entrance, derived from the
// booking id: eight characters of an unambiguous alphabet, as XXXX-XXXX.
func Code(bookingID string) string {
	sum := sha256.Sum256([]byte("booking-code:" + bookingID))
	s := base32.NewEncoding("23456789ABCDEFGHJKLMNPQRSTUVWXYZ").WithPadding(base32.NoPadding).EncodeToString(sum[:5])
	return s[:4] + "-" + s[4:8]
}
