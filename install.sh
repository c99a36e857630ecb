#!/bin/sh
# Install git-gastown: an isolated virtual environment, the git-gt-* commands in
# ~/.local/bin (or PREFIX/bin), and the man pages where man finds them.
#
#   ./install.sh                 install (idempotent: run again to upgrade)
#   ./install.sh --prefix DIR    install under DIR (DIR/bin, DIR/share/...)
#   ./install.sh --dev           also the test tools, with the package editable
#   ./install.sh --uninstall     remove everything this script installed
set -eu

prefix="$HOME/.local"
dev=0
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
                  prefix=$2; shift ;;
        --prefix=*) prefix=${1#--prefix=} ;;
        --dev) dev=1 ;;
        --uninstall) uninstall=1 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see ./install.sh --help)" >&2; exit 2 ;;
    esac
    shift
done

src=$(cd "$(dirname "$0")" && pwd)
# An absolute prefix: the symlinks in DIR/bin point into it, and relative ones would dangle.
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
venv="$prefix/share/git-gastown/venv"
bindir="$prefix/bin"
mandir="$prefix/share/man"
manifest="$prefix/share/git-gastown/installed-files"

remove_installed() {
    if [ -f "$manifest" ]; then
        while IFS= read -r f; do
            [ -n "$f" ] && rm -f "$f"
        done <"$manifest"
        rm -f "$manifest"
    fi
}

if [ "$uninstall" = 1 ]; then
    remove_installed
    rm -rf "$prefix/share/git-gastown"
    # The directories an install made, each removed only if nothing else is in it.
    for d in "$mandir/man1" "$mandir/man7" "$mandir" \
             "$prefix/share/bash-completion/completions" "$prefix/share/bash-completion" \
             "$prefix/share/zsh/site-functions" "$prefix/share/zsh" \
             "$prefix/share/fish/vendor_completions.d" "$prefix/share/fish/vendor_conf.d" \
             "$prefix/share/fish" "$prefix/share" "$bindir"; do
        rmdir "$d" 2>/dev/null || true
    done
    echo "git-gastown removed from $prefix (repositories keep their refs/gt/* data;"
    echo "run 'git gt-init --uninstall' in a repository first to restore its hooks)"
    exit 0
fi

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=$(command -v "$candidate"); break
    fi
done
[ -n "$python" ] || { echo "install.sh: needs Python 3.11 or newer (none found on PATH)" >&2; exit 1; }
command -v git >/dev/null 2>&1 || { echo "install.sh: needs git (install it first)" >&2; exit 1; }

mkdir -p "$bindir" "$mandir/man1" "$mandir/man7" "$(dirname "$venv")"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip="$venv/bin/python -m pip --disable-pip-version-check -q"
if [ "$dev" = 1 ]; then
    $pip install -e "$src[dev]"
else
    # Build from a copy, so the checkout is left as it was (no build/ or *.egg-info in it).
    build=$(mktemp -d "${TMPDIR:-/tmp}/git-gastown-build.XXXXXX")
    trap 'rm -rf "$build"' EXIT
    (cd "$src" && tar -cf - --exclude=./.git --exclude=./.venv --exclude=./build \
        --exclude='./*.egg-info' --exclude=./gastown-demo .) | (cd "$build" && tar -xf -)
    $pip install --upgrade "$build"
fi

remove_installed
: >"$manifest"
for exe in "$venv"/bin/git-gt "$venv"/bin/git-gt-*; do
    [ -e "$exe" ] || continue
    name=$(basename "$exe")
    ln -sf "$exe" "$bindir/$name"
    echo "$bindir/$name" >>"$manifest"
done
for page in "$src"/man/*.[17]; do
    [ -e "$page" ] || continue
    section=${page##*.}
    cp "$page" "$mandir/man$section/"
    echo "$mandir/man$section/$(basename "$page")" >>"$manifest"
done
zshdir="$prefix/share/zsh/site-functions"
if [ -d "$src/completions" ]; then
    comp="$prefix/share/git-gastown/completions"
    bashcomp="$prefix/share/bash-completion/completions"
    fishcomp="$prefix/share/fish/vendor_completions.d"
    fishconf="$prefix/share/fish/vendor_conf.d"
    mkdir -p "$comp" "$bashcomp" "$zshdir" "$fishcomp" "$fishconf"
    install_to() {  # install_to DIR FILE...
        dir=$1; shift
        for f in "$@"; do
            [ -f "$f" ] || continue
            cp "$f" "$dir/"
            echo "$dir/$(basename "$f")" >>"$manifest"
        done
    }
    install_to "$comp" "$src/completions/git-gt.bash"
    install_to "$zshdir" "$src"/completions/zsh/*
    install_to "$fishcomp" "$src"/completions/fish/completions/*.fish
    install_to "$fishconf" "$src"/completions/fish/conf.d/*.fish
    # bash-completion loads these on demand when git-gt or a git-gt-* command is typed.
    for exe in "$venv"/bin/git-gt "$venv"/bin/git-gt-*; do
        [ -e "$exe" ] || continue
        ln -sf "$comp/git-gt.bash" "$bashcomp/$(basename "$exe")"
        echo "$bashcomp/$(basename "$exe")" >>"$manifest"
    done
fi

echo "git-gastown installed: commands in $bindir, manual pages in $mandir"
echo "shell completion for git gt-<cmd>, git gt <cmd> and git-gt-<cmd>:"
echo "  bash: add to ~/.bashrc:  . $prefix/share/git-gastown/completions/git-gt.bash"
echo "  zsh:  add to ~/.zshrc before compinit:  fpath=($zshdir \$fpath)"
case "$prefix" in
    "$HOME/.local") echo "  fish: nothing to do (installed in ~/.local/share/fish/vendor_*.d)" ;;
    *) echo "  fish: add $prefix/share to XDG_DATA_DIRS (files in $prefix/share/fish/vendor_*.d)" ;;
esac
case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "note: $bindir is not on your PATH; add it, e.g.:"
       echo "      echo 'export PATH=\"$bindir:\$PATH\"' >> ~/.profile && . ~/.profile" ;;
esac
