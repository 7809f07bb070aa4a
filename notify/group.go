package notify

import "context"

// Merge makes one message of payloads of one reference that a route's group wait
// gathered: the first payload, carrying the others in Grouped. One payload is itself.
func Merge(ps []Payload) Payload {
	if len(ps) == 0 {
		return Payload{}
	}
	head := ps[0]
	head.Grouped = nil
	if len(ps) > 1 {
		head.Grouped = make([]GroupedEvent, 0, len(ps)-1)
	}
	for _, p := range ps[1:] {
		head.Grouped = append(head.Grouped, groupedOf(p))
	}
	return head
}

// groupedOf is p as one more event of a merged message.
func groupedOf(p Payload) GroupedEvent {
	return GroupedEvent{ID: p.ID, Type: p.Type, Reason: p.Reason, Mutation: p.Mutation, Acknowledgement: p.Acknowledgement, Links: p.Links}
}

// SendGroup sends payloads as one message where the channel can, however many: each
// channel's message stays within its receiver's limits and names or counts every
// event. Alertmanager takes them as alerts of one request (of 256 at most, as
// Prometheus batches), PagerDuty one event each (each is its own incident), a webhook
// one merged payload (Merge) carrying every event by id, in more than one only past
// its body cap (Webhook.SendGroup); Slack and email one merged payload whose message
// lists the first events and counts the rest.
func SendGroup(ctx context.Context, s Sender, ps []Payload) error {
	switch {
	case len(ps) == 0:
		return nil
	case len(ps) == 1:
		return s.Send(ctx, ps[0])
	}
	switch s := s.(type) {
	case *Alertmanager:
		return s.Repost(ctx, ps)
	case *Webhook:
		return s.SendGroup(ctx, ps)
	case *PagerDuty:
		// The first error decides the retry, which sends them all again: PagerDuty
		// folds repeats by dedup_key.
		var first error
		for _, p := range ps {
			if err := s.Send(ctx, p); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	return s.Send(ctx, Merge(ps))
}

// MergesMessages reports whether a channel of kind sends a group as one message (all
// but PagerDuty, whose incidents are one per mutation).
func MergesMessages(kind string) bool { return kind != KindPagerDuty }
