import java.util.regex.Pattern

/** Ant-style patterns (`**` / `*` / `?`, comma-separated lists) as used by junit and archiveArtifacts. */
class Glob {

    static Pattern toRegex(String pattern) {
        String p = pattern.trim().replace('\\', '/')
        while (p.startsWith('./')) {
            p = p.substring(2)
        }
        if (p.endsWith('/')) {
            p += '**'
        }
        StringBuilder sb = new StringBuilder()
        int i = 0
        while (i < p.length()) {
            String c = p.substring(i, i + 1)
            if (c == '*' && p.startsWith('**', i)) {
                if (p.startsWith('**/', i)) {
                    sb.append('(?:.*/)?')
                    i += 3
                } else {
                    sb.append('.*')
                    i += 2
                }
            } else if (c == '*') {
                sb.append('[^/]*')
                i++
            } else if (c == '?') {
                sb.append('[^/]')
                i++
            } else {
                sb.append(Pattern.quote(c))
                i++
            }
        }
        return Pattern.compile(sb.toString())
    }

    static List<String> split(Object patterns) {
        if (patterns == null) {
            return []
        }
        return patterns.toString().split(',')*.trim().findAll { it }
    }

    /** Files (not directories) under base whose '/'-separated relative path matches, sorted. */
    static List<String> find(File base, Object includes, Object excludes = null) {
        List<Pattern> inc = split(includes).collect { toRegex(it) }
        List<Pattern> exc = split(excludes).collect { toRegex(it) }
        List<String> found = []
        if (!base.isDirectory() || inc.isEmpty()) {
            return found
        }
        base.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            String rel = base.toPath().relativize(f.toPath()).toString().replace(File.separator, '/')
            if (inc.any { it.matcher(rel).matches() } && !exc.any { it.matcher(rel).matches() }) {
                found << rel
            }
        }
        return found.sort()
    }

}
