package migrate

import "testing"

// TestCRC64NVME checks the table against CRC-64/NVME's check value (the CRC of "123456789",
// 0xae8b14860a799888) and S3's base64 form of it: a wrong polynomial would make every upload's
// end-to-end check fail against S3's x-amz-checksum-crc64nvme.
func TestCRC64NVME(t *testing.T) {
	h := newHash()
	h.Write([]byte("123456789"))
	if got := h.Sum64(); got != 0xae8b14860a799888 {
		t.Fatalf("CRC-64/NVME(123456789) = %#x, want 0xae8b14860a799888", got)
	}
	if got, want := crcBase64(0xae8b14860a799888), "rosUhgp5mIg="; got != want {
		t.Errorf("base64 %q, want %q", got, want)
	}
}
