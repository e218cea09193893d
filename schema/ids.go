package schema

import (
	"crypto/rand"
	"strings"
)

// NewID returns prefix followed by 26 random base-32 characters (130 bits),
// for example "conv" + "k3j…". Ids are text and opaque to clients.
func NewID(prefix string) string {
	return prefix + strings.ToLower(rand.Text())
}
