package group

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupType is what ListGroups v5+ reports for every group here.
const groupType = "classic"

// ListGroups handles a ListGroupsRequest: every live group, optionally
// filtered by state (v4+) and type (v5+), both case-insensitively.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	matches := func(filter []string, value string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, value) })
	}
	for _, id := range c.sortedGroups() {
		g := c.groups[id]
		if !matches(req.StatesFilter, g.state.String()) || !matches(req.TypesFilter, groupType) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = id, g.protocolType, g.state.String(), groupType
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// groupOperations is the KIP-430 bitfield of group ACL operations (READ,
// DELETE, DESCRIBE): this broker authorises everything.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups handles a DescribeGroupsRequest. Member metadata and
// assignments are only shown for Stable groups, as Kafka does. An unknown
// group is reported as Dead (v0-5) or GROUP_ID_NOT_FOUND (v6+).
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		rg.AuthorizedOperations = math.MinInt32
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOperations
		}
		g, ok := c.groups[id]
		if !ok {
			rg.State = StateDead.String()
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "group " + id + " not found"
				rg.ErrorMessage = &msg
			}
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.ProtocolType = g.state.String(), g.protocolType
		if g.state == StateStable {
			rg.Protocol = g.protocol
		}
		for _, mid := range g.order {
			m := g.members[mid]
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = mid, m.instanceID, m.clientID, m.clientHost
			rm.ProtocolMetadata, rm.MemberAssignment = []byte{}, []byte{}
			if g.state == StateStable {
				rm.ProtocolMetadata = m.metadataFor(g.protocol)
				if m.assignment != nil {
					rm.MemberAssignment = m.assignment
				}
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// DeleteGroups handles a DeleteGroupsRequest: only Empty groups (no members)
// can be deleted; done runs once the tombstones are durable.
func (c *Coordinator) DeleteGroups(now time.Time, req *kmsg.DeleteGroupsRequest, done func(*kmsg.DeleteGroupsResponse)) {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	var records []KV
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		g, ok := c.groups[id]
		switch {
		case !ok:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		case g.state != StateEmpty || len(g.members) > 0:
			rg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			tps := make([]topicPartition, 0, len(g.offsets))
			for tp := range g.offsets {
				tps = append(tps, tp)
			}
			slices.SortFunc(tps, func(a, b topicPartition) int {
				if a.topic != b.topic {
					return strings.Compare(a.topic, b.topic)
				}
				return int(a.partition - b.partition)
			})
			clear(g.pending) // a pending id cannot become a member of a deleted group
			records = append(records, c.removeOffsets(g, tps)...)
			if _, still := c.groups[id]; still { // defensive: removeOffsets always deletes an emptied group
				delete(c.groups, id)
			}
			c.log.Info("group deleted", "group", id)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	c.persist(records, func(err error) {
		if err != nil {
			for i := range resp.Groups {
				if resp.Groups[i].ErrorCode == 0 {
					resp.Groups[i].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		done(resp)
	})
	_ = now
}
