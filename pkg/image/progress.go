package image

import (
	"fmt"
	"io"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/term"
)

// ShowProgress writes push updates until the channel closes: a bar redrawn in place when w is
// a terminal, otherwise a line through printf at each quarter.
func ShowProgress(w io.Writer, printf func(format string, args ...any), updates <-chan v1.Update) {
	tty := term.IsTerminal(w)
	bar := term.Raw(w) // kaptain's own \r, past an escaping writer
	lastQuarter, drew := -1, false
	for u := range updates {
		if u.Error != nil || u.Total == 0 {
			continue
		}
		pct := int(u.Complete * 100 / u.Total)
		if tty {
			fill := strings.Repeat("=", pct/5) + strings.Repeat(" ", 20-pct/5)
			fmt.Fprintf(bar, "\rpushing [%s] %3d%% of %s", fill, pct, HumanBytes(u.Total))
			drew = true
			continue
		}
		if q := pct / 25; q > lastQuarter {
			lastQuarter = q
			printf("pushing: %d%% of %s", pct, HumanBytes(u.Total))
		}
	}
	if drew {
		fmt.Fprintln(w)
	}
}

// pushProgress turns the bytes of the model's files read into streamed layers into push
// updates, one per percent, until it is closed; a nil channel gets none.
type pushProgress struct {
	mu     sync.Mutex
	ch     chan<- v1.Update
	total  int64
	done   int64
	sent   int64
	closed bool
}

// read is told of n more bytes read.
func (p *pushProgress) read(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.ch == nil || p.closed || p.total == 0 || (p.done-p.sent)*100 < p.total && p.done < p.total {
		return
	}
	p.sent = p.done
	p.ch <- v1.Update{Total: p.total, Complete: p.done}
}

// close closes the channel; later reads are counted and not sent.
func (p *pushProgress) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch != nil && !p.closed {
		close(p.ch)
	}
	p.closed = true
}
