package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/internal/corpus"
)

// newGenCorpusCommand is the hidden `gen-corpus` command that makes the
// text `make demo` counts words of.
func newGenCorpusCommand() *cobra.Command {
	var size string
	var out string
	var files int
	var seed int64
	cmd := &cobra.Command{
		Use:    "gen-corpus --out DIR [--size 4MiB] [--files 8] [--seed 1]",
		Short:  "Write a deterministic pseudo-English corpus, for demos and tests",
		Hidden: true,
		Long: `gen-corpus writes FILES text files, part-000.txt and on, of SIZE bytes in
total into DIR (created if missing): pseudo-English from a fixed word list with
a Zipf-like distribution. The same flags always give the same bytes.`,
		Example: `  wasmnet gen-corpus --size 4MiB --out build/corpus`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			total, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("gen-corpus: --size: %w", err)
			}
			if out == "" || files < 1 {
				return fmt.Errorf("gen-corpus: want --out DIR and --files of at least 1")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("gen-corpus: %w", err)
			}
			for i := range files {
				n := total / files
				if i < total%files {
					n++
				}
				if err := writeCorpusFile(filepath.Join(out, fmt.Sprintf("part-%03d.txt", i)), n, seed+int64(i)); err != nil {
					return fmt.Errorf("gen-corpus: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "size", "4MiB", "total size (4MiB, 100kB, 65536)")
	cmd.Flags().StringVar(&out, "out", "", "directory to write into")
	cmd.Flags().IntVar(&files, "files", 8, "number of files")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the first file; file i uses seed+i")
	return cmd
}

func writeCorpusFile(path string, size int, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := corpus.Generate(w, size, seed); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
