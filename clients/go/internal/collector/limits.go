package collector

// OtherValue stands for the values of an attribute beyond its budget.
const OtherValue = "_other"

// Default budgets of distinct attribute values.
const (
	// DefaultMaxRoutes is how many distinct http.route values a service (a
	// program on a port) gets.
	DefaultMaxRoutes = 100
	// DefaultMaxPeers is how many distinct network.peer.address values a
	// service gets in the request metrics.
	DefaultMaxPeers = 1000
	// DefaultMaxTCPConnections is how many distinct connections the TCP
	// health metrics name by their ends.
	DefaultMaxTCPConnections = 1000
	// maxScopes bounds the scopes (services) a budget remembers: past it
	// the oldest is forgotten, so that a churn of services cannot grow
	// memory without end.
	maxScopes = 4096
)

// labelBudget lets the first limit distinct values of an attribute through
// in each scope; later new ones become [OtherValue]. OpenTelemetry's SDK
// also caps a metric's attribute sets, but it folds every attribute of the
// overflow into one series: a budget per attribute keeps the other labels
// of a series meaningful.
type labelBudget[S comparable] struct {
	limit int
	seen  map[S]map[string]struct{}
	order []S // scopes, oldest first
}

func newLabelBudget[S comparable](limit int) *labelBudget[S] {
	return &labelBudget[S]{limit: limit, seen: map[S]map[string]struct{}{}}
}

// admit returns value when scope has room for it (or has it already), else
// OtherValue.
func (b *labelBudget[S]) admit(scope S, value string) string {
	values := b.seen[scope]
	if values == nil {
		if len(b.order) >= maxScopes {
			delete(b.seen, b.order[0])
			b.order = b.order[1:]
		}
		values = map[string]struct{}{}
		b.seen[scope] = values
		b.order = append(b.order, scope)
	}
	if _, ok := values[value]; ok {
		return value
	}
	if len(values) >= b.limit {
		return OtherValue
	}
	values[value] = struct{}{}
	return value
}
