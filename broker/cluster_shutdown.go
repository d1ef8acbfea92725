package broker

// The clean-shutdown marker (KIP-966): a clean shutdown flushes the logs and
// then records the broker epoch in log.dirs; the next start reads and
// removes it and registers with that epoch as PreviousBrokerEpoch. A start
// without it (kill -9, power cut) registers with -1, and the controller
// takes this broker out of every ISR, because its log may lack records it
// had acknowledged as a follower.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/internal/vfs"
)

// cleanShutdownFile is the marker's name under log.dirs.
const cleanShutdownFile = ".highwater_cleanshutdown"

type cleanShutdownMarker struct {
	Version     int   `json:"version"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

// takeCleanShutdownEpoch reads and removes the marker (durably, so a crash
// after this start cannot reuse it) and returns its broker epoch, or
// controller.NoPreviousBrokerEpoch when there is none or it is unreadable.
func (c *clusterNode) takeCleanShutdownEpoch() (int64, error) {
	fsys, path := c.b.cfg.FS, filepath.Join(c.b.s.dataDir, cleanShutdownFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return controller.NoPreviousBrokerEpoch, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clean-shutdown marker: %w", err)
	}
	data, rerr := io.ReadAll(io.LimitReader(f, 4096))
	_ = f.Close()
	if err := fsys.Remove(path); err != nil {
		return 0, fmt.Errorf("clean-shutdown marker: %w", err)
	}
	if err := vfs.SyncDir(fsys, c.b.s.dataDir); err != nil {
		return 0, fmt.Errorf("clean-shutdown marker: %w", err)
	}
	var m cleanShutdownMarker
	if rerr != nil || json.Unmarshal(data, &m) != nil || m.BrokerEpoch <= 0 {
		c.b.log.Warn("clean-shutdown marker unreadable: registering as after an unclean shutdown", "path", path)
		return controller.NoPreviousBrokerEpoch, nil
	}
	return m.BrokerEpoch, nil
}

// writeCleanShutdown flushes every log (and the page-cache seam) and then
// writes the marker with epoch; nothing is written for epoch 0 (never
// registered) or when the flush failed.
func (c *clusterNode) writeCleanShutdown(epoch int64) error {
	if epoch <= 0 {
		return nil
	}
	if err := c.catalog.Flush(); err != nil {
		return fmt.Errorf("clean-shutdown marker not written: %w", err)
	}
	if c.b.pageCache != nil {
		if err := c.b.pageCache.WriteBack(); err != nil {
			return fmt.Errorf("clean-shutdown marker not written: %w", err)
		}
	}
	data, _ := json.Marshal(cleanShutdownMarker{Version: 0, BrokerEpoch: epoch})
	return vfs.WriteFileAtomic(c.b.cfg.FS, filepath.Join(c.b.s.dataDir, cleanShutdownFile), data, 0o644)
}
