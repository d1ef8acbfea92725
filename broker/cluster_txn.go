package broker

func (c *clusterNode) openTxn(ids interface{ NextProducerID() (int64, error) }) interface{ NextProducerID() (int64, error) } {
	return ids
}
