package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Block Kit's limits (api.slack.com/reference/block-kit): a message holds at most 50
// blocks, a header's text at most 150 characters, a section's at most 3,000.
const (
	slackMaxBlocks  = 50
	slackMaxHeader  = 150
	slackMaxSection = 3000
)

// Slack posts to a Slack incoming webhook: a Block Kit message with the title, the
// reference and where, why it is in its state (StatusLines: who acknowledged it, why,
// until when), the digests and where each runs, and the links.
type Slack struct {
	// URL is the incoming webhook's URL; it is the secret (it holds the token).
	URL string
	// Client sends; nil is NewHTTPClient's.
	Client *http.Client
}

// Send posts p once.
func (s *Slack) Send(ctx context.Context, p Payload) error {
	body, err := json.Marshal(SlackMessage(p))
	if err != nil {
		return fmt.Errorf("encode slack message of event %s: %w", p.ID, err)
	}
	return post(ctx, clientOr(s.Client), "slack", s.URL, nil, body)
}

// slackMaxGrouped is how many of a merged message's other events Slack lists, one a
// line; the rest are counted by type (MoreLine), so that a fleet-wide change is one
// readable message rather than a thousand lines.
const slackMaxGrouped = 20

// SlackMessage is p as a Slack message, within Block Kit's limits whatever its size:
// digest lines are packed into sections of at most 3,000 characters, and what does not
// fit in 50 blocks is counted in the last one. The other events a merged message
// carries have a section of their own, kept whatever the digests take: the first 20
// listed, the rest counted, with a link to all of the reference's mutations.
func SlackMessage(p Payload) *slack.WebhookMessage {
	title := Subject(p)
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(title, slackMaxHeader), false, false)),
	}
	// Why the mutation is in its state (who acknowledged it, until when) comes first,
	// in a section of its own, before the digests.
	if status := StatusLines(p); len(status) > 0 {
		for i, l := range status {
			status[i] = slackEscape(l)
		}
		text := truncate(strings.Join(status, "\n"), slackMaxSection)
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil))
	}
	var grouped slack.Block
	if len(p.Grouped) > 0 {
		grouped = slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, slackGrouped(p.Grouped), false, false), nil, nil)
	}
	// The last block is the links; one more is kept for "and N lines more", and one
	// for the grouped events.
	room := slackMaxBlocks - len(blocks) - 2
	if grouped != nil {
		room--
	}
	var section strings.Builder
	lines := DigestLines(p)
	flush := func() {
		if section.Len() > 0 {
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, section.String(), false, false), nil, nil))
			section.Reset()
			room--
		}
	}
	for i, l := range lines {
		line := truncate("• "+slackEscape(l), slackMaxSection)
		if section.Len() > 0 && section.Len()+1+len(line) > slackMaxSection {
			flush()
		}
		if room == 0 {
			rest := fmt.Sprintf("and %d lines more: see tagdrift", len(lines)-i)
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, rest, false, false), nil, nil))
			section.Reset()
			break
		}
		if section.Len() > 0 {
			section.WriteByte('\n')
		}
		section.WriteString(line)
	}
	flush()
	if grouped != nil {
		blocks = append(blocks, grouped)
	}
	link := fmt.Sprintf("<%s|Open in tagdrift> · <%s|API>", slackEscape(p.Links.UI), slackEscape(p.Links.API))
	if len(p.Grouped) > 0 {
		link += fmt.Sprintf(" · <%s|All of %s>", slackEscape(ReferenceLink(p)), slackEscape(truncate(p.Mutation.Ref, 200)))
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, link, false, false)))
	return &slack.WebhookMessage{Text: title, Blocks: &slack.Blocks{BlockSet: blocks}}
}

// slackGrouped is the section of a merged message's other events: a count, at most
// slackMaxGrouped titles, as many as fit in 3,000 characters with the line that counts
// the rest by type.
func slackGrouped(gs []GroupedEvent) string {
	head := fmt.Sprintf("*and %d more of this reference:*", len(gs))
	text, listed := head, 0
	for _, g := range gs[:min(len(gs), slackMaxGrouped)] {
		line := "\n• " + slackEscape(truncate(GroupedTitle(g), 300))
		tail := ""
		if rest := gs[listed+1:]; len(rest) > 0 {
			tail = "\n" + slackEscape(MoreLine(rest))
		}
		if utf8.RuneCountInString(text+line+tail) > slackMaxSection {
			break
		}
		text += line
		listed++
	}
	if listed < len(gs) {
		text += "\n" + slackEscape(MoreLine(gs[listed:]))
	}
	return truncate(text, slackMaxSection)
}

// slackEscape escapes the three characters Slack's text formatting reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n characters (runes), an ellipsis last when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
