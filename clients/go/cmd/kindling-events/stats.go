package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// statsOptions are the flags of the stats subcommand.
type statsOptions struct {
	interval time.Duration
	count    int
}

// clearScreen moves the cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// runStats shows the service's live counters from GetInfo every interval,
// as `kindling stats` does, until ctx ends or count refreshes were shown.
func runStats(ctx context.Context, client *kindling.Client, opts statsOptions, stdout io.Writer) error {
	out := bufio.NewWriter(stdout)
	// A terminal is redrawn in place; a pipe gets one block per refresh.
	terminal := isTerminal(stdout)
	var previous map[string]uint64
	last := time.Now()
	for shown := 0; ; shown++ {
		info, err := client.GetInfo(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		lines := statsLines(info, previous, now.Sub(last).Seconds())
		previous, last = emittedCounts(info), now
		if terminal {
			lines[0] = clearScreen + lines[0]
		} else if shown > 0 {
			out.WriteString("\n")
		}
		for _, line := range lines {
			out.WriteString(line + "\n")
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if opts.count > 0 && shown+1 >= opts.count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.interval):
		}
	}
}

func emittedCounts(info *probev1.GetInfoResponse) map[string]uint64 {
	counts := map[string]uint64{}
	for _, c := range info.GetDriver().GetCounters() {
		counts[c.GetEvent()] = c.GetEmitted()
	}
	return counts
}

// statsLines are the lines of one refresh; previous are the emitted counts
// seconds before (nil at first). The Python command prints the same lines.
func statsLines(info *probev1.GetInfoResponse, previous map[string]uint64, seconds float64) []string {
	streams := info.GetStreams()
	node := info.GetNodeName()
	if node == "" {
		node = "-"
	}
	lines := []string{fmt.Sprintf("node %s: %d subscribers, %d events (%d bytes) queued, queue memory %d of %d bytes",
		node, streams.GetSubscribers(), streams.GetQueueEvents(), streams.GetQueueBytes(),
		streams.GetMemoryUsedBytes(), streams.GetMemoryBytes())}
	if failure := info.GetDriver().GetFailure(); failure != "" {
		lines = append(lines, "capture stopped: "+failure)
	}
	type row struct {
		rate                    float64
		event                   string
		emitted, filtered, lost uint64
	}
	var rows []row
	for _, c := range info.GetDriver().GetCounters() {
		rate := 0.0
		if before, ok := previous[c.GetEvent()]; previous != nil && seconds > 0 {
			if !ok {
				before = c.GetEmitted()
			}
			rate = float64(c.GetEmitted()-before) / seconds
		}
		rows = append(rows, row{rate, c.GetEvent(), c.GetEmitted(), c.GetFiltered(), c.GetLost()})
	}
	if len(rows) == 0 {
		return append(lines, "the kernel counts nothing: nobody is subscribed")
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.rate != b.rate {
			return a.rate > b.rate
		}
		if a.emitted != b.emitted {
			return a.emitted > b.emitted
		}
		return a.event < b.event
	})
	table := [][]string{{"EVENT", "EMITTED/S", "EMITTED", "FILTERED", "LOST"}}
	for _, r := range rows {
		table = append(table, []string{r.event, strconv.FormatFloat(r.rate, 'f', 0, 64),
			strconv.FormatUint(r.emitted, 10), strconv.FormatUint(r.filtered, 10), strconv.FormatUint(r.lost, 10)})
	}
	widths := make([]int, len(table[0]))
	for _, cells := range table {
		for i, c := range cells {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, cells := range table {
		parts := []string{cells[0] + strings.Repeat(" ", widths[0]-len(cells[0]))}
		for i, c := range cells[1:] {
			parts = append(parts, strings.Repeat(" ", widths[i+1]-len(c))+c)
		}
		lines = append(lines, strings.TrimRight(strings.Join(parts, "  "), " "))
	}
	return lines
}
