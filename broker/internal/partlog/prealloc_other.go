//go:build !linux

package partlog

import "errors"

// fallocateKeepSize: preallocation is Linux-only here; elsewhere appends
// allocate as they go.
func fallocateKeepSize(uintptr, int64, int64) error { return errors.ErrUnsupported }
