package modeling

import "slices"

// emptyCache returns a cache of batch rows and maxLen tokens holding no
// tensors yet: the bookkeeping every family's cache shares.
func emptyCache(batch, maxLen int) *Cache {
	return &Cache{MaxLen: maxLen, valid: make([][]int32, batch), next: make([]int32, batch),
		fed: make([][]int32, batch), fedMask: make([][]int32, batch)}
}

// record appends a step's ids [B][T] and mask (flat, B·T) to what each row
// of c was fed.
func (c *Cache) record(ids [][]int32, mask []int32) {
	t := len(ids[0])
	for b, row := range ids {
		c.fed[b] = append(c.fed[b], row...)
		c.fedMask[b] = append(c.fedMask[b], mask[b*t:(b+1)*t]...)
	}
}

// Inputs returns copies of the ids and the attention mask (1 = real token)
// that the steps so far fed to c, [B][Len]: what a family that must compute
// its cache again (see Restart) feeds it afresh.
func (c *Cache) Inputs() (ids, mask [][]int32) {
	ids, mask = make([][]int32, len(c.fed)), make([][]int32, len(c.fed))
	for b := range c.fed {
		ids[b], mask[b] = slices.Clone(c.fed[b]), slices.Clone(c.fedMask[b])
	}
	return ids, mask
}

// Restart empties c, keeping its memory: the next step writes from slot 0
// and its real tokens count positions from 0 again. A family whose keys
// depend on how long the sequence has grown (Phi-3's longrope) restarts
// its cache and feeds Inputs again, as Hugging Face's generate() drops the
// cache there.
func (c *Cache) Restart() {
	c.Len = 0
	for b := range c.valid {
		clear(c.valid[b])
		c.next[b] = 0
		c.fed[b], c.fedMask[b] = c.fed[b][:0], c.fedMask[b][:0]
	}
}
