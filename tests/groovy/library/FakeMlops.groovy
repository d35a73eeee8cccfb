/**
 * The MOCK `mlops` of the step tests (a Jenkins server cannot run here; the real CLI is covered by
 * pytest): call N prints answers[N-1].json and exits with answers[N-1].status. Its arguments, one a
 * line, go to call-N.txt, and the content of the file $KUBECONFIG names (when set) to
 * kubeconfig-N.txt. A call with `--out FILE` writes a small HTML file there first, unless the answer
 * says writeReport: false. A call beyond the answers exits 2.
 */
class FakeMlops {

    final File dir
    final File bin

    FakeMlops(File dir, List<Map> answers) {
        this.dir = dir
        answers.eachWithIndex { Map answer, int i ->
            new File(dir, "${i + 1}.json").text = groovy.json.JsonOutput.toJson(answer.json)
            new File(dir, "${i + 1}.status").text = answer.status.toString()
            if (answer.writeReport == false) {
                new File(dir, "${i + 1}.noreport").text = ''
            }
        }
        new File(dir, 'count').text = '0'
        bin = new File(dir, 'mlops')
        bin.text = """#!/bin/sh
dir='${dir.path}'
n=\$((\$(cat "\$dir/count") + 1))
echo "\$n" > "\$dir/count"
printf '%s\\n' "\$@" > "\$dir/call-\$n.txt"
if [ -n "\${KUBECONFIG:-}" ]; then cat "\$KUBECONFIG" > "\$dir/kubeconfig-\$n.txt"; fi
if [ ! -f "\$dir/\$n.status" ]; then
  printf '{"ok": false, "error": "mock mlops: no answer for call %s"}' "\$n"
  exit 2
fi
previous=
for word in "\$@"; do
  if [ "\$previous" = --out ] && [ ! -f "\$dir/\$n.noreport" ]; then
    mkdir -p "\$(dirname "\$word")"
    printf '<html><body>mock monitoring report</body></html>' > "\$word"
  fi
  previous=\$word
done
cat "\$dir/\$n.json"
exit "\$(cat "\$dir/\$n.status")"
"""
        bin.setExecutable(true)
    }

    /** The arguments of every call so far, in order. */
    List<List<String>> calls() {
        return (1..<(count() + 1)).collect { n -> new File(dir, "call-${n}.txt").readLines() }
    }

    /** For every call so far, the kubeconfig it saw through KUBECONFIG (its content), or null. */
    List<String> kubeconfigs() {
        return (1..<(count() + 1)).collect { n ->
            File seen = new File(dir, "kubeconfig-${n}.txt")
            seen.isFile() ? seen.text : null
        }
    }

    private int count() {
        return new File(dir, 'count').text.trim() as int
    }

}
