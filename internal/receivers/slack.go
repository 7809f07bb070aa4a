package receivers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Block Kit's limits (api.slack.com/reference/block-kit): blocks in one message,
// characters of a section's text, of a header's, elements of a context block.
const (
	SlackMaxBlocks         = 50
	SlackMaxSectionText    = 3000
	SlackMaxHeaderText     = 150
	SlackMaxContextElement = 10
)

// Slack is a Slack incoming webhook: it takes each message whose Block Kit payload is
// within Block Kit's limits, answering "ok" as Slack does, and refuses (400
// invalid_blocks, and an error of the test) one that is not.
type Slack struct {
	t        testing.TB
	mu       sync.Mutex
	messages []SlackMessage
}

// SlackMessage is one message the receiver took.
type SlackMessage struct {
	Body   string // as sent
	Text   string
	Blocks []SlackBlock
	At     time.Time // when it arrived
}

// SlackBlock is one Block Kit block, as far as the limits need it.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text"`
	Fields   []SlackText `json:"fields"`
	Elements []SlackText `json:"elements"`
}

// SlackText is a text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// NewSlack starts a Slack-shaped receiver until the test ends; post to
// srv.URL+"/services/…".
func NewSlack(t testing.TB) (*Slack, *httptest.Server) {
	s := &Slack{t: t}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		s.t.Errorf("slack: %s with Content-Type %q (%v)", r.Method, r.Header.Get("Content-Type"), err)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	var m struct {
		Text   string       `json:"text"`
		Blocks []SlackBlock `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		s.t.Errorf("slack: payload does not decode: %v", err)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if problems := checkBlocks(m.Text, m.Blocks); len(problems) > 0 {
		s.t.Errorf("slack: Block Kit refuses the message: %q\n%s", problems, body)
		http.Error(w, "invalid_blocks", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, SlackMessage{Body: string(body), Text: m.Text, Blocks: m.Blocks, At: time.Now()})
	s.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

// checkBlocks lists what Block Kit refuses in a message.
func checkBlocks(text string, blocks []SlackBlock) []string {
	var out []string
	if text == "" {
		out = append(out, "no text: the notification's fallback")
	}
	if len(blocks) == 0 || len(blocks) > SlackMaxBlocks {
		out = append(out, fmt.Sprintf("%d blocks, 1 to %d allowed", len(blocks), SlackMaxBlocks))
	}
	for i, b := range blocks {
		n := 0
		if b.Text != nil {
			n = utf8.RuneCountInString(b.Text.Text)
		}
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || n == 0 || n > SlackMaxHeaderText {
				out = append(out, fmt.Sprintf("block %d: a header of %d characters of plain_text, 1 to %d allowed", i, n, SlackMaxHeaderText))
			}
		case "section":
			if (b.Text == nil && len(b.Fields) == 0) || n > SlackMaxSectionText || len(b.Fields) > 10 {
				out = append(out, fmt.Sprintf("block %d: a section of %d characters and %d fields, %d and 10 allowed", i, n, len(b.Fields), SlackMaxSectionText))
			}
			if b.Text != nil && b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text" {
				out = append(out, fmt.Sprintf("block %d: text of type %q", i, b.Text.Type))
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > SlackMaxContextElement {
				out = append(out, fmt.Sprintf("block %d: a context of %d elements", i, len(b.Elements)))
			}
		case "divider", "actions", "image", "rich_text":
		default:
			out = append(out, fmt.Sprintf("block %d: unknown type %q", i, b.Type))
		}
	}
	return out
}

// Messages returns the messages taken, in order.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SlackMessage(nil), s.messages...)
}
