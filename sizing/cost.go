package sizing

// Cost is one deployment's monthly bill, in dollars, by line.
type Cost struct {
	Brokers float64 `json:"brokers"`
	Storage float64 `json:"storage"`
	Tiered  float64 `json:"tiered"`
	CrossAZ float64 `json:"crossAZ"`
	Total   float64 `json:"total"`
}

func (c Cost) sum() Cost {
	c.Total = c.Brokers + c.Storage + c.Tiered + c.CrossAZ
	return c
}

// Costs compares the three ways to run the same brokers.
type Costs struct {
	// MSKTiered is MSK with tiered storage (zero when the workload has it
	// off: see MSKLocal).
	MSKTiered Cost `json:"mskTiered"`
	// MSKLocal is MSK keeping the whole retention on broker volumes.
	MSKLocal Cost `json:"mskLocal"`
	// SelfManagedEC2 is the same count of EC2 instances running Kafka.
	SelfManagedEC2 Cost `json:"selfManagedEC2"`
}

// chosen is the cost the type choice minimises.
func (c Costs) chosen(w Workload) float64 {
	if w.TieredStorage {
		return c.MSKTiered.Total
	}
	return c.MSKLocal.Total
}

// storageGB are the cluster's storage volumes.
type storageGB struct {
	localGB  float64 // provisioned on broker volumes, all replicas, at the disk target
	fullGB   float64 // the same for the whole retention (no tiered storage)
	tieredGB float64 // one copy of the whole retention in tiered storage
}

// storage sizes the volumes (1 GB = 1024 MB). The whole-cluster figures do
// not depend on n; the per-broker figure is localGB / n.
func (s sizer) storage(int) storageGB {
	w := s.w
	hourlyGB := w.IngestMBps * 3600 / 1024
	r := float64(w.ReplicationFactor)
	util := w.DiskUtilisationPercent / 100
	st := storageGB{
		localGB: hourlyGB * w.localRetentionHours() * r / util,
		fullGB:  hourlyGB * w.RetentionHours * r / util,
	}
	if w.TieredStorage {
		st.tieredGB = hourlyGB * w.RetentionHours
	}
	return st
}

// monthlyGB is the data a steady rate moves in a month.
func (s sizer) monthlyGB(mbps float64) float64 {
	return mbps * 3600 * s.cat.HoursPerMonth / 1024
}

// crossAZFraction is the share of client traffic that crosses AZs when
// clients and brokers spread evenly.
func (s sizer) crossAZFraction() float64 {
	az := float64(s.w.AvailabilityZones)
	return (az - 1) / az
}

// crossAZFollowers is how many of a partition's followers sit outside the
// leader's AZ with replicas spread evenly over the AZs.
func (s sizer) crossAZFollowers() float64 {
	r, az := s.w.ReplicationFactor, s.w.AvailabilityZones
	if az <= 1 {
		return 0
	}
	return float64(r - ceilDiv(r, az))
}

// clientCrossAZGB is the monthly producer (and, without nearest-replica
// fetching, consumer) traffic that crosses AZs.
func (s sizer) clientCrossAZGB() float64 {
	mbps := s.w.IngestMBps
	if !s.w.NearestReplicaFetching {
		mbps += s.w.dataOutMBps()
	}
	return s.monthlyGB(mbps) * s.crossAZFraction()
}

// costs prices n brokers of t.
//
// MSK: broker-hours, provisioned volume, tiered storage, and cross-AZ client
// traffic; replication between MSK brokers is not billed. Self-managed EC2:
// instance-hours, volumes for the whole retention (no tiered storage), and
// cross-AZ traffic for clients and for replication (every follower outside
// its leader's AZ). This EC2 model gives $16,139.55 for the published
// example against the spreadsheet's $16,102 (+0.23 %); see doc.go.
func (s sizer) costs(t InstanceType, n int) Costs {
	p, h := s.cat.Prices, s.cat.HoursPerMonth
	st := s.storage(n)
	clientAZ := s.clientCrossAZGB() * p.CrossAZPerGB
	msk := float64(n) * t.MSKPerHour * h
	var c Costs
	c.MSKLocal = Cost{Brokers: msk, Storage: st.fullGB * p.MSKStoragePerGBMonth, CrossAZ: clientAZ}.sum()
	if s.w.TieredStorage {
		c.MSKTiered = Cost{Brokers: msk, Storage: st.localGB * p.MSKStoragePerGBMonth,
			Tiered: st.tieredGB * p.MSKTieredPerGBMonth, CrossAZ: clientAZ}.sum()
	}
	replAZ := s.monthlyGB(s.w.IngestMBps) * s.crossAZFollowers() * p.CrossAZPerGB
	c.SelfManagedEC2 = Cost{
		Brokers: float64(n) * t.EC2PerHour * h,
		Storage: st.fullGB * p.EBSPerGBMonth[p.SelfManagedVolume],
		CrossAZ: clientAZ + replAZ,
	}.sum()
	return c
}
