package broker_test

import (
	"math"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
)

func TestHeaderCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		give        any
		want        int
		wantPresent bool
		wantOK      bool
	}{
		{"absent", nil, 0, false, false},
		{"int64 2", int64(2), 2, true, true},
		{"int32 0", int32(0), 0, true, true},
		{"uint8 7", uint8(7), 7, true, true},
		{"string 3", "3", 3, true, true},
		{"float 4", float64(4), 4, true, true},
		{"-1", int64(-1), 0, true, false},
		{"-2 as int8", int8(-2), 0, true, false},
		{"2^31", int64(1) << 31, 0, true, false},
		{"2^63-1", int64(math.MaxInt64), 0, true, false},
		{"uint64 max", uint64(math.MaxUint64), 0, true, false},
		{"abc", "abc", 0, true, false},
		{"-5 as string", "-5", 0, true, false},
		{"1e30", 1e30, 0, true, false},
		{"NaN", math.NaN(), 0, true, false},
		{"1.5", 1.5, 0, true, false},
		{"bool", true, 0, true, false},
		{"table", amqp.Table{"a": 1}, 0, true, false},
		{"decimal", amqp.Decimal{Scale: 1, Value: 20}, 0, true, false},
	}
	for _, tt := range tests {
		h := amqp.Table{}
		if tt.give != nil {
			h["k"] = tt.give
		}
		n, present, ok := broker.HeaderCount(h, "k")
		if n != tt.want || present != tt.wantPresent || ok != tt.wantOK {
			t.Errorf("%s: HeaderCount(%#v) = %d, %v, %v; want %d, %v, %v", tt.name, tt.give, n, present, ok,
				tt.want, tt.wantPresent, tt.wantOK)
		}
		if got := broker.HeaderInt(h, "k"); got != tt.want {
			t.Errorf("%s: HeaderInt(%#v) = %d, want %d", tt.name, tt.give, got, tt.want)
		}
	}
}
