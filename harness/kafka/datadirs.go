package kafka

import (
	"path/filepath"

	"github.com/highwater-io/highwater/harness/cluster"
)

var _ cluster.DataDirs = (*Cluster)(nil)

// DataDir is node id's log directory, <Dir>/node-<id>/data (log.dirs is
// reserved: Set cannot move it).
func (c *Cluster) DataDir(id int32) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return filepath.Join(n.dir, "data")
}
