package imagefmt

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestDetect(t *testing.T) {
	vdi := make([]byte, 512)
	binary.LittleEndian.PutUint32(vdi[0x40:], 0xbeda107f)
	fixedVHD := append(make([]byte, 4096), []byte("conectix")...)
	fixedVHD = append(fixedVHD, make([]byte, 504)...)
	fixedVHD[4096+63] = vhdFixed
	for _, tc := range []struct {
		data []byte
		want Format
	}{
		{nil, Raw},
		{[]byte("QFI"), Raw},
		{[]byte("QFI\xfb\x00\x00\x00\x03"), QCOW2},
		{[]byte("\xfd7zXZ\x00\x00\x04"), XZ},
		{[]byte("KDMV\x01"), VMDK},
		{[]byte("# Disk DescriptorFile\nversion=1\n"), VMDK},
		{[]byte("vhdxfile"), VHDX},
		{vdi, VDI},
		{[]byte("conectix\x00\x00\x00\x02"), VHD},
		{fixedVHD, VHD},
		{make([]byte, 4096), Raw},
	} {
		got, err := Detect(bytes.NewReader(tc.data))
		if err != nil || got != tc.want {
			t.Errorf("Detect(%q...) = %q, %v; want %q", tc.data[:min(len(tc.data), 8)], got, err, tc.want)
		}
	}
}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{"QFI\xfb", "\xfd7zXZ\x00", "KDMV", "vhdxfile", "conectix", "# Disk DescriptorFile"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Detect(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got == "" {
			t.Fatal("empty format")
		}
	})
}
