package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// cdp speaks the Chrome DevTools Protocol over --remote-debugging-pipe:
// chromium reads commands from its fd 3 and writes replies and events to
// its fd 4, each a JSON object ended by a NUL byte. Calls are sequential;
// events are read past, and handed to onEvent when it is set.
type cdp struct {
	w    *os.File // chromium's fd 3
	r    *os.File // chromium's fd 4
	br   *bufio.Reader
	next int

	// onEvent, if set, sees every event read while waiting for a reply.
	onEvent func(method string, params json.RawMessage)
}

func newCDP(w, r *os.File) *cdp {
	return &cdp{w: w, r: r, br: bufio.NewReader(r)}
}

// call sends method with params to the session (the browser if "") and
// decodes the reply's result into result, which may be nil.
func (c *cdp) call(ctx context.Context, session, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	c.next++
	msg := struct {
		ID        int    `json:"id"`
		Method    string `json:"method"`
		Params    any    `json:"params"`
		SessionID string `json:"sessionId,omitempty"`
	}{c.next, method, params, session}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := c.w.Write(append(b, 0)); err != nil {
		return fmt.Errorf("cdp %s: %w", method, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c.r.SetReadDeadline(deadline)
	for {
		line, err := c.br.ReadBytes(0)
		if err != nil {
			return fmt.Errorf("cdp %s: read the reply: %w", method, err)
		}
		var reply struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line[:len(line)-1], &reply); err != nil {
			return fmt.Errorf("cdp %s: %w in %q", method, err, line)
		}
		if reply.ID != c.next {
			if reply.Method != "" && c.onEvent != nil {
				c.onEvent(reply.Method, reply.Params)
			}
			continue // an event
		}
		if reply.Error != nil {
			return fmt.Errorf("cdp %s: %s (%d)", method, reply.Error.Message, reply.Error.Code)
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(reply.Result, result)
	}
}

// evaluate runs a JavaScript expression in the session's page, waits for
// the promise it returns, and returns the value as a string.
func (c *cdp) evaluate(ctx context.Context, session, expr string) (string, error) {
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}
	if err := c.call(ctx, session, "Runtime.evaluate", params, &res); err != nil {
		return "", err
	}
	if d := res.ExceptionDetails; d != nil {
		return "", errors.New("javascript: " + d.Text + " " + d.Exception.Description)
	}
	return fmt.Sprint(res.Result.Value), nil
}
