package media

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

type panicking struct{}

func (panicking) Process(context.Context, Job) (Output, error) {
	var m map[string]int
	m["decoder"]++ // a nil map write: what a decoder bug looks like
	return Output{}, nil
}

// A decoder that panics yields ErrCorrupt; the server does not crash.
func TestProcessRecoversDecoderPanic(t *testing.T) {
	_, err := process(context.Background(), panicking{}, Job{})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "decoder panic")
}
