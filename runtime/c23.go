package runtime

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/colinux-ng/colinux/internal/atomicfile"
)

// Debian's newest User-mode Linux kernels are the only ones that run on
// some CPUs (bookworm's 6.1 and trixie's 6.12 die as their first process
// starts where the CPU has AMX: "ptrace set fp regs failed, errno = 14"),
// and they need glibc 2.38 for two functions only: __isoc23_strtol and
// __isoc23_strtoul, the C23 strtol and strtoul that glibc 2.38's headers
// pick. Bookworm has glibc 2.36. relinkC23 lets such a program run there:
// each call of a C23 function is bound to the C function of the same
// name without the prefix, which differs only in not reading the C23
// binary prefix 0b, and the version no symbol needs any more becomes a
// second copy of one the host has. Nothing else changes.

// relinkForHost relinks the kernel at path for the host's C library when
// it needs a newer one for C23 functions; errTooNewGlibc when it needs
// more.
func relinkForHost(path string) error {
	libc, glibc, err := hostLibc()
	if err != nil {
		return nil // unknown: the kernel fails at boot with the loader's message
	}
	if _, err := relinkC23(path, libc, glibc); err != nil {
		return fmt.Errorf("%w: %v", errTooNewGlibc, err)
	}
	return nil
}

// errTooNewGlibc is a program that needs more of a newer glibc than C23
// functions.
var errTooNewGlibc = errors.New("needs a newer glibc than the host's")

// c23Prefix starts the names of glibc 2.38's C23 functions.
const c23Prefix = "__isoc23_"

// c23Functions are the functions glibc 2.38 has a C23 version of.
var c23Functions = map[string]bool{
	"strtol": true, "strtoul": true, "strtoll": true, "strtoull": true, "strtoimax": true, "strtoumax": true,
	"wcstol": true, "wcstoul": true, "wcstoll": true, "wcstoull": true, "wcstoimax": true, "wcstoumax": true,
	"scanf": true, "fscanf": true, "sscanf": true, "vscanf": true, "vfscanf": true, "vsscanf": true,
	"wscanf": true, "fwscanf": true, "swscanf": true, "vwscanf": true, "vfwscanf": true, "vswscanf": true,
}

// ELF layout of what relinkC23 changes (64-bit).
const (
	sym64Size     = 24 // Elf64_Sym; st_name is its first word
	vernauxHash   = 0  // offset of vna_hash in Elf64_Vernaux
	vernauxOther  = 6  // vna_other: the version index symbols use
	vernauxName   = 8
	vernauxNext   = 12
	verneedFile   = 4 // offsets in Elf64_Verneed
	verneedAux    = 8
	verneedNext   = 12
	versymIndexOf = 0x7fff // a versym entry's index; the top bit is "hidden"
	verneedSize   = 16     // both Elf64_Verneed and Elf64_Vernaux
)

// vernaux is one version a program needs from a library.
type vernaux struct {
	at    int // file offset of the entry
	index uint16
	name  string
}

// relinkC23 rewrites the program at path (atomically, through
// atomicfile) so that it needs no glibc newer than hostGlibc, where all it
// needs of one are C23 functions whose C names hostLibc defines. It returns
// false, changing nothing, when the program needs no newer glibc; an
// error names what it needs that cannot be given.
func relinkC23(path, hostLibc, hostGlibc string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	changed, err := relinkELF(data, hostGlibc, func() (map[string]string, error) { return defaultVersions(hostLibc) })
	if err != nil {
		return false, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if !changed {
		return false, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return true, atomicfile.WriteFile(path, data, fi.Mode().Perm())
}

// relinkELF is relinkC23 on the program's bytes, changed in place; c17
// gives the host libc's functions and their versions (defaultVersions).
func relinkELF(data []byte, hostGlibc string, c17Versions func() (map[string]string, error)) (bool, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 {
		return false, nil // every kernel Debian builds newer ones of is 64-bit
	}
	dynsym, versym, verneed := f.SectionByType(elf.SHT_DYNSYM), f.SectionByType(elf.SHT_GNU_VERSYM), f.SectionByType(elf.SHT_GNU_VERNEED)
	if dynsym == nil || versym == nil || verneed == nil || int(dynsym.Link) >= len(f.Sections) {
		return false, nil // static, or no versions
	}
	strtab := f.Sections[dynsym.Link]
	str := func(off uint32) string {
		if strtab.Offset >= uint64(len(data)) || strtab.Offset+uint64(off) >= uint64(len(data)) {
			return ""
		}
		b := data[strtab.Offset+uint64(off):]
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return string(b[:i])
		}
		return ""
	}
	needs, err := libcNeeds(data, f.ByteOrder, verneed, str)
	if err != nil {
		return false, err
	}
	var tooNew []vernaux
	for _, n := range needs {
		if v, ok := strings.CutPrefix(n.name, glibcPrefix); ok && glibcVersion(v) && !glibcAtLeast(hostGlibc, v) {
			tooNew = append(tooNew, n)
		}
	}
	if len(tooNew) == 0 {
		return false, nil
	}
	c17, err := c17Versions()
	if err != nil {
		return false, err
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return false, err
	}
	bo := f.ByteOrder
	for i, s := range syms {
		if !s.HasVersion || s.Section != elf.SHN_UNDEF {
			continue
		}
		n, ok := findIndex(tooNew, s.VersionIndex.Index())
		if !ok {
			continue
		}
		name, isC23 := strings.CutPrefix(s.Name, c23Prefix)
		to, known := c17[name]
		target, present := findName(needs, to)
		if !isC23 || !c23Functions[name] || !known || !present {
			return false, fmt.Errorf("needs %s@%s, which glibc %s lacks", s.Name, n.name, hostGlibc)
		}
		// Entry 0 of the tables is the null symbol, which DynamicSymbols
		// leaves out. The C name is the tail of the C23 one in the string
		// table, so the symbol's name moves by the prefix.
		name32, ver16 := dynsym.Offset+uint64(i+1)*sym64Size, versym.Offset+uint64(i+1)*2
		if name32+4 > uint64(len(data)) || ver16+2 > uint64(len(data)) {
			return false, errors.New("symbol table past the end of the file")
		}
		bo.PutUint32(data[name32:], bo.Uint32(data[name32:])+uint32(len(c23Prefix)))
		bo.PutUint16(data[ver16:], bo.Uint16(data[ver16:])&^versymIndexOf|target.index)
	}
	// The versions no symbol uses now become copies (hash and name) of
	// one the host has: the loader checks every version listed.
	old, found := vernaux{}, false
	for _, n := range needs {
		if _, tooNew := findName(tooNew, n.name); !tooNew {
			old, found = n, true
			break
		}
	}
	if !found {
		return false, fmt.Errorf("needs nothing of glibc %s or older to stand in for %s", hostGlibc, tooNew[0].name)
	}
	for _, n := range tooNew {
		copy(data[n.at+vernauxHash:n.at+vernauxHash+4], data[old.at+vernauxHash:])
		copy(data[n.at+vernauxName:n.at+vernauxName+4], data[old.at+vernauxName:])
	}
	return true, nil
}

// libcNeeds walks the verneed table for the versions needed from libc.so.*.
func libcNeeds(data []byte, bo binary.ByteOrder, verneed *elf.Section, str func(uint32) string) ([]vernaux, error) {
	var out []vernaux
	end := verneed.Offset + verneed.Size
	if end > uint64(len(data)) || end < verneed.Offset {
		return nil, errors.New("version table past the end of the file")
	}
	// Each entry is 16 bytes of the table: more visits than that means a
	// chain that loops.
	visits := verneed.Size / verneedSize
	visit := func(at uint64) error {
		if visits == 0 {
			return errors.New("version table loops")
		}
		visits--
		if at < verneed.Offset || at+verneedSize > end {
			return errors.New("version table entry past its end")
		}
		return nil
	}
	for at := verneed.Offset; ; {
		if err := visit(at); err != nil {
			return nil, err
		}
		lib := str(bo.Uint32(data[at+verneedFile:]))
		for aux := at + uint64(bo.Uint32(data[at+verneedAux:])); ; {
			if err := visit(aux); err != nil {
				return nil, err
			}
			if strings.HasPrefix(lib, "libc.so") {
				out = append(out, vernaux{at: int(aux), index: bo.Uint16(data[aux+vernauxOther:]), name: str(bo.Uint32(data[aux+vernauxName:]))})
			}
			next := bo.Uint32(data[aux+vernauxNext:])
			if next == 0 {
				break
			}
			aux += uint64(next)
		}
		next := bo.Uint32(data[at+verneedNext:])
		if next == 0 {
			return out, nil
		}
		at += uint64(next)
	}
}

// defaultVersions maps the functions a libc defines to the version a
// program linked against it today binds them to.
func defaultVersions(libc string) (map[string]string, error) {
	f, err := elf.Open(libc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", libc, err)
	}
	out := map[string]string{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && s.HasVersion && !s.VersionIndex.IsHidden() {
			out[s.Name] = s.Version
		}
	}
	return out, nil
}

func findIndex(ns []vernaux, index uint16) (vernaux, bool) {
	for _, n := range ns {
		if n.index == index {
			return n, true
		}
	}
	return vernaux{}, false
}

func findName(ns []vernaux, name string) (vernaux, bool) {
	for _, n := range ns {
		if n.name == name {
			return n, true
		}
	}
	return vernaux{}, false
}
