// Command mkzip writes a directory tree into a zip archive, keeping each
// file's Unix permission bits in the entry's external attributes (so the
// custom handler binary stays executable after the Functions platform
// unpacks the package). Entries are sorted and carry a fixed time, so the
// same tree always gives the same bytes. Standard library only: `make
// package` uses it because a fresh machine may have Go but no zip tool.
//
// Usage: go run ./tests/tools/mkzip -o dist/appwarden.zip dist/package
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "zip file to write")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkzip -o archive.zip directory")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

// fixedTime is the modification time of every entry (zip times start in 1980).
var fixedTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func write(out, root string) error {
	info, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", root)
	}
	var paths []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s: symbolic links are not packaged", path)
		}
		paths = append(paths, path)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)

	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, path := range paths {
		if err := add(zw, root, path); err != nil {
			zw.Close()
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	err = errors.Join(zw.Close(), f.Close())
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

func add(zw *zip.Writer, root, path string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return err
	}
	hdr, err := zip.FileInfoHeader(info) // sets the Unix mode in ExternalAttrs
	if err != nil {
		return err
	}
	hdr.Name = filepath.ToSlash(rel)
	hdr.Modified = fixedTime
	if info.IsDir() {
		hdr.Name += "/"
		hdr.Method = zip.Store
		_, err = zw.CreateHeader(hdr)
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: only regular files are packaged", path)
	}
	if strings.HasPrefix(hdr.Name, "../") {
		return fmt.Errorf("%s is outside %s", path, root)
	}
	hdr.Method = zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(w, src)
	return err
}
