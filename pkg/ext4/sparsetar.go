package ext4

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"strconv"
)

// sparseStandIn stands in for "GNU.sparse." in the records given to
// archive/tar, which drops records of that prefix (it writes no sparse
// files); it has the same length, so renaming it keeps the records valid.
const sparseStandIn = "GNU_sparse."

// sparseHeader returns the header blocks of h as a PAX 1.0 sparse entry
// (`tar --posix --sparse --sparse-version=1.0`), whose data is the map
// followed by the file's data ranges: GNU tar and bsdtar extract it as a
// sparse file, and Go's archive/tar (podman and docker import) reads it as
// the whole file. It returns the map block, padded, to write after them.
func sparseHeader(h *tar.Header, ranges [][2]int64) (header, sparseMap []byte, err error) {
	entries := ranges
	if n := len(ranges); n == 0 || ranges[n-1][1] < h.Size {
		// The file ends in a hole: a last empty range marks its end, as
		// GNU tar writes it.
		entries = append(entries[:n:n], [2]int64{h.Size, h.Size})
	}
	sparseMap = strconv.AppendInt(nil, int64(len(entries)), 10)
	sparseMap = append(sparseMap, '\n')
	stored := int64(0)
	for _, r := range entries {
		sparseMap = strconv.AppendInt(sparseMap, r[0], 10)
		sparseMap = append(sparseMap, '\n')
		sparseMap = strconv.AppendInt(sparseMap, r[1]-r[0], 10)
		sparseMap = append(sparseMap, '\n')
		stored += r[1] - r[0]
	}
	sparseMap = append(sparseMap, make([]byte, padding(int64(len(sparseMap))))...)

	s := *h
	dir, file := path.Split(h.Name)
	s.Name = dir + "GNUSparseFile.0/" + file
	s.Size = int64(len(sparseMap)) + stored
	s.PAXRecords = map[string]string{
		sparseStandIn + "major":    "1",
		sparseStandIn + "minor":    "0",
		sparseStandIn + "name":     h.Name,
		sparseStandIn + "realsize": strconv.FormatInt(h.Size, 10),
	}
	for k, v := range h.PAXRecords {
		s.PAXRecords[k] = v
	}
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).WriteHeader(&s); err != nil {
		return nil, nil, err
	}
	// The buffer holds the extended header block, its records (padded)
	// and the entry's own header block.
	b := buf.Bytes()
	if len(b) < 3*blockSize {
		return nil, nil, fmt.Errorf("archive/tar wrote no extended header for %s", h.Name)
	}
	if err := renameRecords(b[blockSize : len(b)-blockSize]); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	return b, sparseMap, nil
}

// renameRecords turns the stand-in prefix of PAX record keys into
// "GNU.sparse.", in place. Records are "LENGTH KEY=VALUE\n"; values may
// hold anything, so only keys are looked at.
func renameRecords(recs []byte) error {
	for len(recs) > 0 && recs[0] != 0 {
		sp := bytes.IndexByte(recs, ' ')
		if sp <= 0 {
			return fmt.Errorf("PAX record without its length")
		}
		n, err := strconv.Atoi(string(recs[:sp]))
		if err != nil || n <= sp || n > len(recs) {
			return fmt.Errorf("PAX record of length %q", recs[:sp])
		}
		key := recs[sp+1 : n]
		if bytes.HasPrefix(key, []byte(sparseStandIn)) {
			key[len("GNU")] = '.'
		}
		recs = recs[n:]
	}
	return nil
}

const blockSize = 512

// padding is what fills n bytes up to a whole tar block.
func padding(n int64) int64 { return -n & (blockSize - 1) }
