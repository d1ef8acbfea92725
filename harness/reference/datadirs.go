package reference

import (
	"strings"

	"github.com/highwater-io/highwater/harness/cluster"
)

var _ cluster.DataDirs = (*Cluster)(nil)

// DataDir is node id's log directory: the first log.dirs entry of its
// properties (Set may move it; the default is <Dir>/node-<id>/data).
func (c *Cluster) DataDir(id int32) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	dirs, _, _ := strings.Cut(c.properties(n)["log.dirs"], ",")
	return strings.TrimSpace(dirs)
}
