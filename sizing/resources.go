package sizing

import "math"

// traffic is the cluster-wide peak load, safety factor applied, in MB/s.
type traffic struct {
	ingest  float64 // producer bytes into the cluster
	dataOut float64 // consumer bytes out of the cluster
}

func (s sizer) peakTraffic() traffic {
	w := s.w
	peak := w.peakMBps()
	return traffic{
		ingest: peak * w.SafetyFactor,
		// Consumers read what producers wrote: scale the average data out by
		// the same peak-to-average ratio.
		dataOut: w.dataOutMBps() * peak / w.IngestMBps * w.SafetyFactor,
	}
}

// resources computes every per-broker load for n brokers of type t.
//
// Throughput and memory are carried by the n − BrokersDownTolerated brokers
// that remain up; partitions and storage stay where they were placed, so
// they are spread over all n.
//
// With I the peak ingest, E the data out, r the replication factor:
//   - disk writes are I·r (every replica appends), disk reads are the
//     lagging consumers' share of E; storage throughput and the EBS link
//     both carry writes + reads;
//   - EC2 network out is E (consumers) + I·(r−1) (followers fetching from
//     leaders) + I (uploads to tiered storage, when on);
//   - EC2 network in is I (producers) + I·(r−1) (replication) + the share
//     of E read back from tiered storage;
//   - the page cache must hold RAMCachedSeconds of the replicated ingest;
//   - CPU follows the network bytes in and out, more with TLS.
//
// With no lagging consumers, no tiered storage and no broker down these are
// AWS's bound: I ≤ min(storage·n/r, EBS·n/r, EC2·n/(c+r−1)).
func (s sizer) resources(t InstanceType, n int) []ResourceUse {
	w, tr := s.w, s.peakTraffic()
	r := float64(w.ReplicationFactor)
	up := float64(n - w.BrokersDownTolerated)
	util := w.UtilisationPercent

	disk := (tr.ingest*r + tr.dataOut*w.LaggingConsumersPercent/100) / up
	out := tr.dataOut + tr.ingest*(r-1)
	in := tr.ingest * r
	if w.TieredStorage {
		out += tr.ingest
		in += tr.dataOut * w.TieredReadPercent / 100
	}
	out, in = out/up, in/up
	cache := tr.ingest * r * w.RAMCachedSeconds / up

	uses := []ResourceUse{
		use(ResStorageThroughput, "MB/s", disk, t.StorageMaxMBps, util),
		use(ResEBSNetwork, "MB/s", disk, t.EBSMBps(), util),
		use(ResNetworkOut, "MB/s", out, t.NetworkMBps(), util),
		use(ResNetworkIn, "MB/s", in, t.NetworkMBps(), util),
		use(ResPageCache, "MB", cache, t.PageCacheMB(), util),
	}
	if s.cal == nil {
		cpu := in + out
		if w.EncryptionInTransit {
			cpu *= s.cat.Assumptions.TLSCPUFactor
		}
		uses = append(uses, use(ResCPU, "MB/s-equiv", cpu, float64(t.VCPU)*s.cat.Assumptions.CPUMBpsPerVCPU, w.CPUUtilisationPercent))
	} else {
		// The measurement already includes the broker's CPU (and TLS if the
		// bench used it), so it replaces the CPU assumption; the run was a
		// capacity search to saturation, so the CPU target applies.
		k := s.cal.scale(t)
		uses = append(uses, use(ResIngress, "MB/s", tr.ingest*r/up, s.cal.writeMBpsPerBroker()*k, w.CPUUtilisationPercent))
		if s.cal.ConsumeMBps > 0 {
			uses = append(uses, use(ResEgress, "MB/s", out, s.cal.readMBpsPerBroker()*k, w.CPUUtilisationPercent))
		}
	}
	parts := s.partitions(n)
	uses = append(uses,
		use(ResPartitions, "replicas", float64(ceilDiv(parts*w.ReplicationFactor, n)), float64(t.MaxPartitions), 100),
		use(ResStorageCapacity, "GB", s.storage(n).localGB/float64(n), s.cat.Assumptions.MaxVolumeGB, 100),
	)
	return uses
}

// noCapacityPercent stands for "this type has none of the resource" (a
// heap bigger than the memory, say); JSON has no infinity.
const noCapacityPercent = 1e6

func use(res Resource, unit string, load, capacity, targetPercent float64) ResourceUse {
	u := ResourceUse{Resource: res, Unit: unit, LoadPerBroker: load, CapacityPerBroker: capacity, TargetPercent: targetPercent}
	switch {
	case capacity > 0:
		u.UsedPercent = load / capacity * 100
	case load > 0:
		u.UsedPercent = noCapacityPercent
	}
	if load == 0 {
		u.Unbounded = true
	} else {
		u.HeadroomPercent = (targetPercent/u.UsedPercent - 1) * 100
	}
	return u
}

// partitions is the topic's partition count on n brokers: as given, or
// enough partitions for the peak at the per-partition rate and one per
// parallel consumer, rounded up to a multiple of n so leadership spreads
// evenly.
func (s sizer) partitions(n int) int {
	w := s.w
	if w.Partitions > 0 {
		return w.Partitions
	}
	perPart := w.PartitionMBps
	if perPart == 0 && s.cal != nil {
		perPart = s.cal.partitionMBps()
	}
	if perPart == 0 {
		perPart = s.cat.Assumptions.DefaultPartitionMBps
	}
	need := max(int(math.Ceil(s.peakTraffic().ingest/perPart)), w.ConsumerParallelism, 1)
	return ceilDiv(need, n) * n
}
