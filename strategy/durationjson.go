package strategy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/shortdur"
)

// The strategy structs hold time.Duration fields, which encoding/json writes as
// nanoseconds: a 15 minute soak read 900000000000 in a stored state or a file a
// person reviews. Their fields keep the type (callers write Soak: 15 *
// time.Minute), and their MarshalJSON and UnmarshalJSON go through the two
// helpers below instead: one place that knows how a duration is written and
// read, whatever struct holds it.
//
// Each helper works on a shadow struct built with reflection: the same fields,
// names and tags, except that a time.Duration field becomes durationText (to
// write) or json.RawMessage (to read, so that an error can name the field).
// The callers pass a value of a method-less copy of their type (type plain
// Canary), so the shadow's encoding does not call back into them.

var durationType = reflect.TypeFor[time.Duration]()

// durationText marshals a time.Duration as its short string form.
type durationText time.Duration

// MarshalJSON writes "15m" rather than 900000000000.
func (d durationText) MarshalJSON() ([]byte, error) {
	return json.Marshal(shortdur.String(time.Duration(d)))
}

var (
	durationTextType = reflect.TypeFor[durationText]()
	rawType          = reflect.TypeFor[json.RawMessage]()
)

// shadowOf returns t with each time.Duration field replaced by as. Unexported
// fields are left out (encoding/json ignores them too). An embedded field is
// refused: encoding/json would flatten it, and no strategy struct has one.
func shadowOf(t reflect.Type, as reflect.Type) (reflect.Type, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("strategy: %s is not a struct", t)
	}
	fields := make([]reflect.StructField, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil, fmt.Errorf("strategy: %s.%s: embedded fields are not supported by the duration encoding", t, f.Name)
		}
		if !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft == durationType {
			ft = as
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: ft, Tag: f.Tag})
	}
	return reflect.StructOf(fields), nil
}

// marshalDurations marshals the struct v with its time.Duration fields as
// duration strings, and without HTML escapes: an encoder that escapes (as
// json.Marshal does) escapes the result itself, and one told not to
// (SetEscapeHTML(false)) then shows queries with < and > as people wrote them.
func marshalDurations(v any) ([]byte, error) {
	src := reflect.ValueOf(v)
	shadow, err := shadowOf(src.Type(), durationTextType)
	if err != nil {
		return nil, err
	}
	dst := reflect.New(shadow).Elem()
	for i := range shadow.NumField() {
		sf := shadow.Field(i)
		dst.Field(i).Set(src.FieldByName(sf.Name).Convert(sf.Type))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(dst.Interface()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// unmarshalDurations decodes b into the struct ptr points to. A duration field
// may be a string such as "15m" or "1h30m" or an integer of nanoseconds (what
// earlier versions wrote, in stored states and in users' files). Fields absent
// from b keep their values, and unknown keys are ignored, as with
// json.Unmarshal. what names the struct in errors; a bad duration is a
// configuration error (progressive.ErrInvalid) naming the field and the value.
func unmarshalDurations(what string, b []byte, ptr any) error {
	dst := reflect.ValueOf(ptr)
	if dst.Kind() != reflect.Pointer || dst.IsNil() {
		return fmt.Errorf("strategy: %s: decode needs a non-nil pointer, got %T", what, ptr)
	}
	dst = dst.Elem()
	shadow, err := shadowOf(dst.Type(), rawType)
	if err != nil {
		return err
	}
	tmp := reflect.New(shadow)
	for i := range shadow.NumField() {
		sf := shadow.Field(i)
		if sf.Type != rawType {
			tmp.Elem().Field(i).Set(dst.FieldByName(sf.Name))
		}
	}
	if err := json.Unmarshal(b, tmp.Interface()); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for i := range shadow.NumField() {
		sf := shadow.Field(i)
		field := dst.FieldByName(sf.Name)
		if sf.Type != rawType {
			field.Set(tmp.Elem().Field(i))
			continue
		}
		raw := tmp.Elem().Field(i).Interface().(json.RawMessage)
		d, ok, err := readDuration(raw)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", what, jsonName(sf), err)
		}
		if ok {
			field.SetInt(int64(d))
		}
	}
	return nil
}

// readDuration parses one duration field. ok is false when the field was
// absent or null, which leaves the destination alone.
func readDuration(raw json.RawMessage) (d time.Duration, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, fmt.Errorf("%s: %w: %w", raw, err, progressive.ErrInvalid)
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a duration such as \"90s\", \"15m\" or \"1h30m\": %w", s, progressive.ErrInvalid)
		}
		return d, true, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s is neither a duration string such as \"15m\" nor a whole number of nanoseconds: %w", raw, progressive.ErrInvalid)
	}
	return time.Duration(n), true, nil
}

// jsonName is the key encoding/json uses for f.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" || name == "-" {
		return f.Name
	}
	return name
}
