#!/bin/bash
# durability-ulimit-store.sh - mail-store under a file size limit, for
# MAILPIPE_STORE: only the Maildir copy hits the limit, not smtp-recv's spool.
#   DURABILITY_FSIZE_KB     the limit in KiB (ulimit -f), default 8
#   DURABILITY_MAIL_STORE   the mail-store to run (default: ../../bin/mail-store)
ulimit -f "${DURABILITY_FSIZE_KB:-8}" || exit 71
exec "${DURABILITY_MAIL_STORE:-$(dirname "$0")/../../bin/mail-store}" "$@"
