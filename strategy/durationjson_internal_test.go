package strategy

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShadowRefusesWhatItCannotMirror(t *testing.T) {
	type inner struct{ Soak time.Duration }
	type embedding struct {
		inner
		Pace time.Duration
	}
	_, err := marshalDurations(embedding{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "embedded")

	_, err = marshalDurations(time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a struct")

	var nilPtr *inner
	assert.Error(t, unmarshalDurations("x", []byte(`{}`), nilPtr))
	assert.Error(t, unmarshalDurations("x", []byte(`{}`), inner{}))
}

func TestShadowSkipsUnexportedFields(t *testing.T) {
	type mixed struct {
		Pace   time.Duration `json:"pace"`
		hidden time.Duration
		Count  int `json:"count"`
	}
	b, err := marshalDurations(mixed{Pace: time.Minute, hidden: time.Hour, Count: 2})
	require.NoError(t, err)
	assert.JSONEq(t, `{"pace":"1m","count":2}`, string(b))

	var m mixed
	require.NoError(t, unmarshalDurations("mixed", []byte(`{"pace":60000000000,"count":3}`), &m))
	assert.Equal(t, mixed{Pace: time.Minute, Count: 3}, m)
}

func TestShadowKeepsTags(t *testing.T) {
	type tagged struct {
		Pace time.Duration `json:"pace,omitempty"`
		Skip time.Duration `json:"-"`
		Bare time.Duration
	}
	shadow, err := shadowOf(reflect.TypeFor[tagged](), durationTextType)
	require.NoError(t, err)
	require.Equal(t, 3, shadow.NumField())
	assert.Equal(t, reflect.StructTag(`json:"pace,omitempty"`), shadow.Field(0).Tag)
	b, err := marshalDurations(tagged{Skip: time.Hour, Bare: time.Second})
	require.NoError(t, err)
	assert.JSONEq(t, `{"Bare":"1s"}`, string(b))
}
