package ezsettings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *INI {
	t.Helper()
	ini, err := ParseINI(strings.NewReader(text), "test.ini")
	if err != nil {
		t.Fatalf("ParseINI: %v", err)
	}
	return ini
}

func TestParseINIScalars(t *testing.T) {
	tests := []struct {
		name, text, section, key string
		want                     string
		wantOK                   bool
	}{
		{"plain", "[S]\nK=v\n", "S", "K", "v", true},
		{"value not trimmed", "[S]\nK= v  \n", "S", "K", " v  ", true},
		{"everything after first =", "[S]\nDBPassword=a=b;c#d\"e'f\n", "S", "DBPassword", "a=b;c#d\"e'f", true},
		{"empty value", "[S]\nK=\n", "S", "K", "", true},
		{"CRLF", "[S]\r\nK=v\r\n", "S", "K", "v", true},
		{"CR inside value dropped like eZ", "[S]\nK=a\rb\n", "S", "K", "ab", true},
		{"BOM", "\xef\xbb\xbf[S]\nK=v\n", "S", "K", "v", true},
		{"no final newline", "[S]\nK=v", "S", "K", "v", true},
		{"later wins", "[S]\nK=a\nK=b\n", "S", "K", "b", true},
		{"section name trimmed", "[ S ]  \nK=v\n", "S", "K", "v", true},
		{"before any section", "K=v\n", "", "K", "v", true},
		{"inline ## comment cut at last ##", "[S]\nK=a##b##c\n", "S", "K", "a##b", true},
		{"single # kept", "[S]\nK=a#b\n", "S", "K", "a#b", true},
		{"comment line", "[S]\n#K=v\n", "S", "K", "", false},
		{"indented comment", "[S]\n   # K=v\n", "S", "K", "", false},
		{"php wrapper", "<?php /* #?ini charset=\"utf-8\"?\n\n[S]\nK=v\n*/ ?>\n", "S", "K", "v", true},
		{"key chars", "[S]\nA-b_c*@1=v\n", "S", "A-b_c*@1", "v", true},
		{"other section", "[S]\nK=v\n[T]\nK=w\n", "T", "K", "w", true},
		{"section reopened", "[S]\nK=v\n[T]\n[S]\nK=x\n", "S", "K", "x", true},
		{"array is not scalar", "[S]\nK[]=v\n", "S", "K", "", false},
		{"missing", "[S]\n", "S", "K", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := mustParse(t, tt.text).Get(tt.section, tt.key)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Get(%q, %q) = %q, %v; want %q, %v", tt.section, tt.key, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseINIArrays(t *testing.T) {
	tests := []struct {
		name, text string
		want       []KeyValue
	}{
		{"append", "[S]\nA[]=x\nA[]=y\n", []KeyValue{{"0", "x"}, {"1", "y"}}},
		{"reset", "[S]\nA[]=x\nA[]\nA[]=y\n", []KeyValue{{"0", "y"}}},
		{"reset only", "[S]\nA[]=x\nA[]\n", []KeyValue{}},
		{"keyed keeps first position", "[S]\nA[k1]=a\nA[k2]=b\nA[k1]=c\n", []KeyValue{{"k1", "c"}, {"k2", "b"}}},
		{"keyed path", "[D]\nA[var/site/storage/images]=eZDFSFileHandlerDFSAmazon\n", []KeyValue{{"var/site/storage/images", "eZDFSFileHandlerDFSAmazon"}}},
		{"index 0 appends (PHP truthiness)", "[S]\nA[]=x\nA[0]=y\n", []KeyValue{{"0", "x"}, {"1", "y"}}},
		{"numeric keys continue auto index", "[S]\nA[5]=x\nA[]=y\n", []KeyValue{{"5", "x"}, {"6", "y"}}},
		{"leading-zero key stays a string", "[S]\nA[05]=x\nA[]=y\n", []KeyValue{{"05", "x"}, {"0", "y"}}},
		{"scalar replaced by array", "[S]\nA=x\nA[]=y\n", []KeyValue{{"0", "y"}}},
		{"values untrimmed", "[S]\nA[]= x \n", []KeyValue{{"0", " x "}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.text).Hash("S", "A")
			if tt.name == "keyed path" {
				got = mustParse(t, tt.text).Hash("D", "A")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Hash = %#v; want %#v", got, tt.want)
			}
		})
	}
}

func TestINIAccessors(t *testing.T) {
	ini := mustParse(t, "[B]\nY=1\nX[]=a\nX[]=b\n[A]\nZ=2\n")
	if got, want := ini.Sections(), []string{"B", "A"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sections = %v; want %v", got, want)
	}
	if got, want := ini.Keys("B"), []string{"Y", "X"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys = %v; want %v", got, want)
	}
	if got, want := ini.List("B", "X"), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v; want %v", got, want)
	}
	if ini.List("B", "Y") != nil || ini.Hash("B", "Y") != nil {
		t.Errorf("List/Hash of a scalar should be nil")
	}
	if got := ini.Origin("B", "X"); got != "test.ini:4" {
		t.Errorf("Origin = %q; want test.ini:4", got)
	}
	if got := ini.HashOrigin("B", "X", "0"); got != "test.ini:3" {
		t.Errorf("HashOrigin = %q; want test.ini:3", got)
	}
	var zero INI
	if _, ok := zero.Get("S", "K"); ok || zero.Sections() == nil && len(zero.Sections()) != 0 {
		t.Errorf("zero INI should be empty")
	}
}

func TestMerge(t *testing.T) {
	base := "[S]\nK=base\nA[]=a\nA[]=b\nH[x]=1\nH[y]=2\nR[]=old\nOnly=keep\n"
	over := "[S]\nK=over\nA[]=c\nH[x]=3\nH[z]=4\nR[]\nR[]=new\n[T]\nN=1\n"
	ini := mustParse(t, base)
	ini.Merge(mustParse(t, over))

	if got, _ := ini.Get("S", "K"); got != "over" {
		t.Errorf("scalar: %q", got)
	}
	if got, _ := ini.Get("S", "Only"); got != "keep" {
		t.Errorf("untouched scalar: %q", got)
	}
	if got, want := ini.Hash("S", "A"), []KeyValue{{"0", "a"}, {"1", "b"}, {"2", "c"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("append: %v; want %v", got, want)
	}
	if got, want := ini.Hash("S", "H"), []KeyValue{{"x", "3"}, {"y", "2"}, {"z", "4"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("keyed: %v; want %v", got, want)
	}
	if got, want := ini.List("S", "R"), []string{"new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("reset: %v; want %v", got, want)
	}
	if got, want := ini.Keys("S"), []string{"K", "A", "H", "R", "Only"}; !reflect.DeepEqual(got, want) {
		t.Errorf("key order: %v; want %v", got, want)
	}
	if got, want := ini.Sections(), []string{"S", "T"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sections: %v; want %v", got, want)
	}
}

// TestMergeMatchesSequentialParse checks that merging per-file INIs gives what eZ gets by
// parsing the files one after another into the same arrays.
func TestMergeMatchesSequentialParse(t *testing.T) {
	files := []string{
		"[S]\nA[]=1\nH[k]=a\nK=1\nM[]=x\n",
		"[S]\nA[]=2\nH[j]=b\nH[k]=c\nM[]\nM[]=y\n",
		"[S]\nA[]\nA[]=3\nH[k]=d\nK=2\nM[]=z\n[T]\nX=1\n",
		"[T]\nX[]=array now\n[S]\nA[7]=seven\nA[]=eight\n",
	}
	for n := 1; n <= len(files); n++ {
		merged := &INI{}
		for _, f := range files[:n] {
			merged.Merge(mustParse(t, f))
		}
		// Pairwise from the right (associativity).
		right := mustParse(t, files[n-1])
		for i := n - 2; i >= 0; i-- {
			l := mustParse(t, files[i])
			l.Merge(right)
			right = l
		}
		seq := mustParse(t, strings.Join(files[:n], ""))
		for _, sec := range seq.Sections() {
			for _, k := range seq.Keys(sec) {
				for name, got := range map[string]*INI{"merged": merged, "right-assoc": right} {
					gv, gok := got.Get(sec, k)
					sv, sok := seq.Get(sec, k)
					if gv != sv || gok != sok || !reflect.DeepEqual(got.Hash(sec, k), seq.Hash(sec, k)) {
						t.Errorf("%d files, %s [%s] %s: got %q/%v, want %q/%v", n, name, sec, k, got.Hash(sec, k), gv, seq.Hash(sec, k), sv)
					}
				}
			}
		}
	}
}

func TestParseINIBadFiles(t *testing.T) {
	tests := []struct {
		filename, errMsg string
	}{
		{"space-before-eq.bad.ini", `space-before-eq.bad.ini:3: space before "=" or "[" after "DBHost"; eZ ignores this line (write Key=Value)`},
		{"space-before-bracket.bad.ini", `space-before-bracket.bad.ini:2: space before "=" or "[" after "PathBackends"; eZ ignores this line (write Key=Value)`},
		{"unclosed-section.bad.ini", `unclosed-section.bad.ini:3: malformed section header (want [Name]); eZ ignores this line`},
		{"indented.bad.ini", `indented.bad.ini:2: setting "DBPassword" is indented; eZ ignores this line (keys must start the line)`},
		{"bad-name.bad.ini", `bad-name.bad.ini:2: invalid setting name (allowed: letters, digits, _ * @ -); eZ ignores this line`},
		{"stray-text.bad.ini", `stray-text.bad.ini:3: not a section, setting or comment; eZ ignores this line`},
	}
	for _, tt := range tests {
		t.Run(tt.filename, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "bad", tt.filename))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ini, err := ParseINI(f, tt.filename)
			if err != nil {
				t.Fatalf("ParseINI failed on a line eZ ignores: %v", err)
			}
			if len(ini.Ignored()) != 1 {
				t.Fatalf("Ignored() = %v; want one entry %q", ini.Ignored(), tt.errMsg)
			}
			err = ini.Ignored()[0]
			if err.Error() != tt.errMsg {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.errMsg)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "db1") {
				t.Errorf("error quotes a value: %s", err)
			}
		})
	}
}

func TestParseINILongLine(t *testing.T) {
	_, err := ParseINI(strings.NewReader("[S]\nK="+strings.Repeat("x", maxLine+1)+"\n"), "long.ini")
	if err == nil || !strings.Contains(err.Error(), "long.ini:2: line longer than") {
		t.Errorf("err = %v", err)
	}
}
