package store

import (
	"strings"
)

// The writer remembers the conversations messages went to. Finding a
// message's conversation (the lead's active thread, joined to the lead) was
// a sixth of the writer's time per message, and the writer is the one
// goroutine through which every change to a conversation passes: so it can
// keep their state exactly. AddMessage records the state it writes; any
// other statement that may change a conversation, a lead (part of a
// conversation's view), a channel or an assistant (both part of finding a
// thread) empties the cache, detected from the statement itself so that a
// new write path cannot forget to. Entries a transaction wrote become
// visible to later transactions only if it commits.
type threadCache struct {
	convs   map[string]Conversation // committed state, by tenant and conversation id
	threads map[string]string       // committed: tenant, lead and channel → conversation id
	// The open transaction's entries, and whether it emptied the cache.
	groupConvs   map[string]Conversation
	groupThreads map[string]string
	// mutates classifies statement texts (mutatesThreads), once per text.
	mutates map[string]bool
}

// maxCachedThreads bounds the cache; past it the cache starts over.
const maxCachedThreads = 50000

func newThreadCache() *threadCache {
	return &threadCache{convs: map[string]Conversation{}, threads: map[string]string{},
		groupConvs: map[string]Conversation{}, groupThreads: map[string]string{}, mutates: map[string]bool{}}
}

func convKey(tenant, id string) string { return tenant + "\x00" + id }

func threadKeyOf(tenant, lead, channel string) string {
	return tenant + "\x00" + lead + "\x00" + channel
}

// conversation returns the remembered state of a tenant's conversation.
func (c *threadCache) conversation(tenant, id string) (Conversation, bool) {
	if c == nil {
		return Conversation{}, false
	}
	k := convKey(tenant, id)
	if conv, ok := c.groupConvs[k]; ok {
		return conv, true
	}
	conv, ok := c.convs[k]
	return conv, ok
}

// thread returns the remembered active conversation of a lead on a channel
// ("" for the default assistant's thread).
func (c *threadCache) thread(tenant, lead, channel string) (Conversation, bool) {
	if c == nil {
		return Conversation{}, false
	}
	k := threadKeyOf(tenant, lead, channel)
	id, ok := c.groupThreads[k]
	if !ok {
		if id, ok = c.threads[k]; !ok {
			return Conversation{}, false
		}
	}
	return c.conversation(tenant, id)
}

// remember records a conversation's state as the open transaction wrote or
// read it, and, with a thread key, that it is that thread.
func (c *threadCache) remember(tenant string, conv Conversation, lead, channel string, isThread bool) {
	if c == nil {
		return
	}
	c.groupConvs[convKey(tenant, conv.ID)] = conv
	if isThread {
		c.groupThreads[threadKeyOf(tenant, lead, channel)] = conv.ID
	}
}

// forget empties the cache, the open transaction's entries included.
func (c *threadCache) forget() {
	if c == nil {
		return
	}
	clear(c.convs)
	clear(c.threads)
	clear(c.groupConvs)
	clear(c.groupThreads)
}

// settle ends a transaction: its entries are kept if it committed.
func (c *threadCache) settle(committed bool) {
	if c == nil {
		return
	}
	if committed {
		if len(c.convs)+len(c.groupConvs) > maxCachedThreads {
			clear(c.convs)
			clear(c.threads)
		}
		for k, v := range c.groupConvs {
			c.convs[k] = v
		}
		for k, v := range c.groupThreads {
			c.threads[k] = v
		}
	}
	clear(c.groupConvs)
	clear(c.groupThreads)
}

// check empties the cache when statement q may change what it holds.
func (c *threadCache) check(q string) {
	if c == nil {
		return
	}
	m, ok := c.mutates[q]
	if !ok {
		m = mutatesThreads(q)
		c.mutates[q] = m
	}
	if m {
		c.forget()
	}
}

// mutatesThreads reports whether statement q may change a conversation as
// the cache holds it: an UPDATE, DELETE or REPLACE of conversations, leads,
// channels or assistants (or tenants, whose deletion cascades), or an
// INSERT into them that may replace or update a row. A plain INSERT adds a
// row and changes none: a new conversation cannot displace a remembered
// active thread (the active-thread index is unique).
func mutatesThreads(q string) bool {
	f := strings.Fields(strings.ToLower(q))
	target := ""
	replaces := false
	switch {
	case len(f) >= 2 && f[0] == "update":
		target = f[1]
	case len(f) >= 3 && f[0] == "delete" && f[1] == "from":
		target = f[2]
	case len(f) >= 3 && f[0] == "replace" && f[1] == "into":
		target, replaces = f[2], true
	case len(f) >= 3 && f[0] == "insert":
		for i := 1; i+1 < len(f); i++ {
			if f[i] == "into" {
				target = f[i+1]
				break
			}
			if f[i] == "replace" {
				replaces = true
			}
		}
		replaces = replaces || strings.Contains(strings.ToLower(q), "on conflict")
		if !replaces {
			return false
		}
	default:
		return false
	}
	target = strings.TrimSuffix(strings.SplitN(target, "(", 2)[0], ",")
	switch target {
	case "conversations", "leads", "channels", "assistants":
		return true
	case "tenants":
		return f[0] == "delete" || replaces
	}
	return false
}
