/*
 * Runs the Groovy tests of the library: every JUnit 4 class in a *Test.groovy file under tests/groovy.
 *
 *   groovy -cp /usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar tests/groovy/RunTests.groovy [FILTER...]
 *
 * (scripts/test-groovy.sh does exactly this.) A FILTER keeps the test classes whose name or path
 * contains it. The harness (tests/groovy/harness) is compiled first to real class files, so the
 * scripts the harness compiles later (Jenkinsfiles, vars) resolve its classes, such as
 * hudson.AbortException, to the very same Class objects.
 *
 * Prints each failure with its trace, then exactly `N passed, N failed` as the last line.
 * Exits 1 on any failure, on a compilation error, or when no test ran.
 */

import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.runtime.StackTraceUtils
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

import java.lang.reflect.Method
import java.lang.reflect.Modifier
import java.nio.file.Files

File scriptFile = null
try {
    scriptFile = new File(getClass().protectionDomain.codeSource.location.toURI())
} catch (Exception ignored) {
    scriptFile = null
}
File testsRoot = (scriptFile?.isFile() ? scriptFile.parentFile : new File('tests/groovy')).canonicalFile
File repoRoot = testsRoot.parentFile.parentFile
System.setProperty('mlops.repoRoot', repoRoot.path)
List<String> filters = (args as List<String>) ?: []

long started = System.currentTimeMillis()

List<File> groovyFiles(File dir, Closure<Boolean> keep) {
    List<File> files = []
    if (dir.isDirectory()) {
        dir.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            if (f.name.endsWith('.groovy') && keep(f)) {
                files << f
            }
        }
    }
    return files.sort { it.path }
}

File compileTo(List<File> sources, ClassLoader parent, File target) {
    CompilerConfiguration cc = new CompilerConfiguration()
    cc.targetDirectory = target
    cc.sourceEncoding = 'UTF-8'
    CompilationUnit cu = new CompilationUnit(cc, null, new GroovyClassLoader(parent, cc))
    sources.each { cu.addSource(it) }
    cu.compile(Phases.OUTPUT)
    return target
}

File harnessDir = new File(testsRoot, 'harness')
// The harness's own tests (harness/*Test.groovy) are compiled with the other tests.
List<File> harnessSources = groovyFiles(harnessDir) { File f -> !f.name.endsWith('Test.groovy') }
List<File> testSources = groovyFiles(testsRoot) { File f ->
    String rel = testsRoot.toPath().relativize(f.toPath()).toString().replace(File.separator, '/')
    !(f in harnessSources) && !rel.split('/').contains('fixtures') && rel != 'RunTests.groovy'
}

int runAll(List<File> harnessSources, List<File> testSources, List<String> filters, long started) {
    File work = Files.createTempDirectory('groovy-tests').toFile()
    int exitCode = 1
    try {
        File harnessClasses = new File(work, 'harness')
        File testClasses = new File(work, 'tests')
        GroovyClassLoader loader = new GroovyClassLoader(getClass().classLoader)
        try {
            compileTo(harnessSources, getClass().classLoader, harnessClasses)
            loader.addClasspath(harnessClasses.path)
            compileTo(testSources, loader, testClasses)
            loader.addClasspath(testClasses.path)
        } catch (Exception e) {
            System.err.println("Compilation failed:\n${e.message}")
            println '0 passed, 1 failed'
            return 1
        }
        long compiled = System.currentTimeMillis()

        List<Class> testClassesToRun = []
        testClasses.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            if (!f.name.endsWith('.class') || f.name.contains('$')) {
                return
            }
            String name = testClasses.toPath().relativize(f.toPath()).toString()
                .replace(File.separator, '.').replaceAll(/\.class$/, '')
            if (!name.endsWith('Test')) {
                return
            }
            Class c = loader.loadClass(name)
            boolean hasTests = c.methods.any { Method m -> m.getAnnotation(org.junit.Test) != null }
            if (!hasTests || Modifier.isAbstract(c.modifiers)) {
                return
            }
            File source = testSources.find { it.name == c.simpleName + '.groovy' }
            if (filters && !filters.any { String flt -> name.contains(flt) || source?.path?.contains(flt) }) {
                return
            }
            testClassesToRun << c
        }
        testClassesToRun.sort { it.name }

        Set<Description> failedTests = [] as Set
        Map<String, Integer> counts = [passed: 0, ignored: 0]
        List<Failure> failures = []
        Map<Description, Long> startedAt = [:]
        JUnitCore core = new JUnitCore()
        core.addListener(new RunListener() {
            @Override
            void testStarted(Description d) {
                startedAt[d] = System.currentTimeMillis()
            }

            @Override
            void testFailure(Failure f) {
                failures << f
                failedTests << f.description
            }

            @Override
            void testAssumptionFailure(Failure f) {
                counts.ignored++
            }

            @Override
            void testIgnored(Description d) {
                counts.ignored++
                println "SKIP ${d.className}.${d.methodName}"
            }

            @Override
            void testFinished(Description d) {
                long ms = System.currentTimeMillis() - (startedAt[d] ?: System.currentTimeMillis())
                if (failedTests.contains(d)) {
                    println "FAIL ${d.className}.${d.methodName} (${ms} ms)"
                } else {
                    counts.passed++
                    println "ok   ${d.className}.${d.methodName} (${ms} ms)"
                }
            }
        })
        testClassesToRun.each { Class c -> core.run(Request.aClass(c)) }

        failures.eachWithIndex { Failure f, int i ->
            println ''
            println "${i + 1}) ${f.testHeader}"
            Throwable t = f.exception
            StackTraceUtils.deepSanitize(t)
            StringWriter sw = new StringWriter()
            t.printStackTrace(new PrintWriter(sw))
            // Keep the frames that say something: not reflection, JUnit or this runner.
            List<String> lines = sw.toString().readLines().findAll { String l ->
                !(l =~ /^\s+at (java\.base\/)?(jdk\.internal\.|java\.lang\.reflect\.|sun\.reflect\.|org\.junit\.|RunTests|.*\$\w+\$\d+\.call)/)
            }
            println lines.take(40).join('\n')
        }
        int failed = failedTests.size()
        int passed = counts.passed
        int ignored = counts.ignored
        long finished = System.currentTimeMillis()
        println ''
        println "${testClassesToRun.size()} test classes; compiled in ${compiled - started} ms, ran in ${finished - compiled} ms" +
            (ignored ? "; ${ignored} skipped" : '')
        if (passed + failed == 0) {
            System.err.println('No test ran' + (filters ? " (filters: ${filters})" : ''))
        }
        println "${passed} passed, ${failed} failed"
        exitCode = failed > 0 || passed + failed == 0 ? 1 : 0
    } finally {
        work.deleteDir()
    }
    return exitCode
}

System.exit(runAll(harnessSources, testSources, filters, started))
