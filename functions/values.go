package functions

// EmptyArgs are the arguments of functions that take none.
type EmptyArgs struct{}

// Null is the result of mutations that return nothing.
type Null struct{}

// MarshalJSON encodes null.
func (Null) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
