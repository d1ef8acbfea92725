package records

import "github.com/klauspost/compress/s2"

func s2EncodeSnappy(b []byte) []byte { return s2.EncodeSnappy(nil, b) }
