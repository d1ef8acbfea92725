// Package metadata is the cluster metadata of the replicated broker as
// KRaft keeps it: a log of records (broker registrations and fencing,
// topics, partitions with replicas / ISR / leader / epochs, configs,
// producer id blocks, feature levels) and the Image those records build.
//
// Contract:
//
//   - Apply(img, rec) validates rec against img and returns the next image,
//     or ErrInvalid naming the broken rule with img unchanged. The rules
//     are the invariants leader ∈ ISR ⊆ replicas, epochs only grow, every
//     partition change bumps the partition epoch, unique topic names and
//     ids, broker epochs grow (see Apply). CheckImage and CheckTransition
//     re-check them on whole images.
//   - Epochs are derived, not carried: a PartitionChangeRecord bumps the
//     partition epoch, and the leader epoch when its Leader field is set
//     (KRaft's PartitionRegistration.merge). An ISR change alone keeps the
//     leader epoch (KRaft from metadata version 3.6 on).
//   - Records encode to versioned JSON (Encode / Decode, EncodeBatch /
//     DecodeBatch); the quorum package carries them as opaque bytes. The
//     records of one controller decision form one batch, applied as a unit.
//   - Snapshots are records too (Image.Records, EncodeSnapshot /
//     DecodeSnapshot), so restoring one goes through Apply's checks.
//   - Every listing (Brokers, Topics, ConfigResources, Records) is in a
//     fixed order, and equal images encode to equal bytes (Equal).
//
// How this meets broker/internal/replica: a partition of the Image maps
// one to one onto replica.PartitionState (Leader, LeaderEpoch,
// PartitionEpoch, Replicas, ISR); Ineligible there is the set of replicas
// whose Broker is not Active here (fenced or in controlled shutdown,
// KIP-841). NoLeader is replica's leader -1.
//
// Partition.UncleanISR stands in for KIP-966's empty ISR: its only member
// restarted after an unclean shutdown and may not lead but by an unclean
// election (PartitionChangeRecord.MarkUncleanISR sets it, electing a
// leader clears it; leader-in-isr refuses a leader while it is set).
//
// Not modelled: eligible leader replicas (KIP-966), partition reassignment
// (adding/removing replicas), leader recovery state after an unclean
// election, directories, ACLs, SCRAM, quotas, delegation tokens.
//
// Concurrency: everything here is pure. An Image is an immutable value:
// any number of goroutines may read one while its owner applies records
// to produce the next.
package metadata
