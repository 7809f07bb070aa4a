package notify

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"
)

// Email sends the plain-text message (Text) over SMTP, STARTTLS required unless the
// channel says otherwise. Its Message-ID is the event's id, so that a mail client or a
// filter can drop a redelivery.
type Email struct {
	// Host and Port of the SMTP server; Port defaults to 587 (submission).
	Host string
	Port int
	// Username and Password authenticate (PLAIN, over TLS only); none when Username is
	// empty. Password is a secret.
	Username, Password string
	// From and To address the message.
	From string
	To   []string
	// Plain allows a server without STARTTLS (a relay on the same host). Default false:
	// STARTTLS is required.
	Plain bool
	// TLSConfig verifies the server (its RootCAs for a private CA); nil verifies Host
	// against the system's roots.
	TLSConfig *tls.Config
	// Timeout bounds the whole exchange. Default DefaultAttemptTimeout.
	Timeout time.Duration
	// Dial connects; nil is net.Dialer's. The address policy's dialer goes here.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Send sends p's message once.
func (e *Email) Send(ctx context.Context, p Payload) error {
	msg := mail.NewMsg()
	if err := msg.From(e.From); err != nil {
		return &Error{Channel: "email", Class: "bad-from"}
	}
	if err := msg.To(e.To...); err != nil {
		return &Error{Channel: "email", Class: "bad-to"}
	}
	msg.Subject(Subject(p))
	msg.SetMessageIDWithValue(p.ID + "@tagdrift")
	msg.SetDateWithValue(p.Timestamp)
	msg.SetGenHeader("X-Tagdrift-Event", string(p.Type))
	msg.SetBodyString(mail.TypeTextPlain, Text(p))

	tlsConfig := e.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: e.Host, MinVersion: tls.VersionTLS12}
	}
	policy := mail.TLSMandatory
	if e.Plain {
		policy = mail.TLSOpportunistic
	}
	opts := []mail.Option{
		mail.WithPort(cmp.Or(e.Port, 587)),
		mail.WithTimeout(cmp.Or(e.Timeout, DefaultAttemptTimeout)),
		mail.WithTLSConfig(tlsConfig),
		mail.WithTLSPolicy(policy),
	}
	if e.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(e.Username), mail.WithPassword(e.Password))
	}
	if e.Dial != nil {
		opts = append(opts, mail.WithDialContextFunc(e.Dial))
	}
	client, err := mail.NewClient(e.Host, opts...)
	if err != nil {
		return &Error{Channel: "email", Class: "bad-config"}
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return smtpError(ctx, err)
	}
	return nil
}

// smtpError classes an SMTP failure without quoting it (go-mail's messages may hold
// the server's words): 4xx replies and network failures are retryable, 5xx replies
// (refused authentication, refused recipient) are not.
func smtpError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The attempt's deadline (its timeout), not the sender stopping: another
		// attempt may get an answer in time.
		return &Error{Channel: "email", Class: "timeout", Retry: true, cause: ctx.Err()}
	}
	if ctx.Err() != nil {
		return &Error{Channel: "email", Class: "canceled", cause: ctx.Err()}
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &Error{Channel: "email", Class: "smtp-" + strconv.Itoa(reply.Code), Retry: reply.Code >= 400 && reply.Code < 500}
	}
	var send *mail.SendError
	if errors.As(err, &send) {
		return &Error{Channel: "email", Class: fmt.Sprintf("smtp-send-%d", send.Reason), Retry: send.IsTemp()}
	}
	if refusedAddress(err) {
		return &Error{Channel: "email", Class: "forbidden-address"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Channel: "email", Class: "timeout", Retry: true}
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return &Error{Channel: "email", Class: "connect", Retry: true}
	}
	// STARTTLS refused or failed, a certificate not trusted: retrying will not help.
	return &Error{Channel: "email", Class: "smtp"}
}
