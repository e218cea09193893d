package parleytest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// DocTable reads the access table of a domain's doc.go at path: every
// comment line "//\t<label> <code> <code> …" with columns three-digit
// HTTP statuses, as label (its first field, with a parenthesised variant
// if one follows: "sendMessage (image)") → the statuses. The domains'
// tests compare it with the table they test, so that the documented table
// is the tested one.
func DocTable(t testing.TB, path string, columns int) map[string][]int {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	row := regexp.MustCompile(fmt.Sprintf(`^//\t(\S+(?: \([^)]*\))?)\s+((?:\d{3}\s+){%d}\d{3})`, columns-1))
	out := map[string][]int{}
	for _, line := range strings.Split(string(src), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var codes []int
		for _, f := range strings.Fields(m[2]) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %q: %v", path, line, err)
			}
			codes = append(codes, n)
		}
		out[m[1]] = codes
	}
	if len(out) == 0 {
		t.Fatalf("%s has no access table of %d columns", path, columns)
	}
	return out
}
