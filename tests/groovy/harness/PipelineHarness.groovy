import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import hudson.AbortException
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.codehaus.groovy.runtime.InvokerHelper
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.MissingContextVariableException

import java.nio.file.Files
import java.nio.file.NoSuchFileException
import java.util.concurrent.TimeUnit

/**
 * A plain-Groovy stand-in for Jenkins' pipeline runtime, to test the shared library without a
 * Jenkins server. It is a test double: `sh` runs for real, every other step is simulated after
 * Jenkins' documented behaviour. See tests/groovy/README.md for what it does and does not model.
 *
 * <pre>
 * def h = new PipelineHarness(new File(libraryRoot), workspaceDir)
 * h.params.CONFIG = 'mlops.yaml'; h.credentials['token'] = 's3cret'
 * BuildResult r = h.runJenkinsfile("@Library('mlops') _\nnode { mlopsTrain(config: 'mlops.yaml') }")
 * assert r.result == 'SUCCESS'
 * def value = h.callStep('mlopsTrain', [config: 'x'])   // a var's call(), as inside node {}
 * </pre>
 */
class PipelineHarness {

    /** The library's name in Jenkins (`@Library('mlops') _`, env.'library.mlops.version'). */
    static final String LIBRARY_NAME = 'mlops'

    final File libraryRoot
    final File workspace
    final String libraryName

    /** What `input` answers: 'proceed' or 'abort'. */
    String inputResponse = 'proceed'
    /** Values an approver types into input parameters (name → value); others take their default. */
    Map inputValues = [:]
    /** The user who answers `input`. */
    String inputSubmitter = 'tester'
    /** Result of the previous build, for the changed/fixed/regression post conditions (null: none). */
    String previousResult = null
    /** Unknown named parameters to a step fail the test (Jenkins only logs a warning). */
    boolean strictStepParameters = true
    /** Steps that need a workspace fail outside node {} / an agent, as in Jenkins. */
    boolean requireNode = true
    /** A real sh running longer than this fails the test (a hung command would hang the suite). */
    long shTimeoutSeconds = 900
    /** Also print the console log to stdout as it is written (or set HARNESS_LOG=1). */
    boolean echoLog = System.getenv('HARNESS_LOG') as boolean

    final CurrentBuild currentBuild = new CurrentBuild()
    /** Every step and library var call, in order: [step: name, args: raw args, named: Map]. */
    final List<Map> calls = []
    final List<Map> junitReports = []
    final List<String> archived = []
    final List<Map> htmlReports = []
    final List<Map> inputs = []
    final List<Map> stashes = []
    /** What the `build` step was asked to start (its named arguments), in order; see the mock in defineSteps. */
    final List<Map> builds = []
    /** The result of a downstream build that `build` waits for (wait: true). */
    String downstreamResult = 'SUCCESS'
    /** What `properties([...])` set (job properties of a scripted pipeline). */
    final List jobProperties = []
    /** What a declarative pipeline declared: agent, options, parameters, triggers, tools, environment, stages. */
    final Map declarative = [:]
    final List<String> stagesRun = []
    final List<String> stagesSkipped = []
    final List<String> warnings = []

    private final EnvVars envVars = new EnvVars()
    private final Map paramsMap = [:]
    private final Map credentialsMap = [:]
    private final Map shMocksMap = [:]
    private final StringBuilder logBuffer = new StringBuilder()
    private final GroovyShell shell
    private final Map<String, Map> stepDefs = [:]
    private final Map<String, Object> globals = [:]
    private final Map<String, Object> varStubs = [:]
    private final Map<String, Class> varClasses = [:]
    private final Set<String> disabledSteps = [] as Set
    private final List<PipelineBinding> bindings = []
    private final List<File> dirStack = []
    private final List<Map> activeSecrets = []
    private final List<Map> stageStack = []
    private int nodeDepth = 0
    private boolean pipelineRan = false

    PipelineHarness(File libraryRoot, File workspace = null, String libraryName = LIBRARY_NAME) {
        this.libraryRoot = libraryRoot.canonicalFile
        this.libraryName = libraryName
        this.workspace = (workspace ?: Files.createTempDirectory('harness-ws').toFile()).absoluteFile
        this.workspace.mkdirs()
        shell = createShell()
        initEnv()
        defineSteps()
        globals.env = envVars
        globals.params = Collections.unmodifiableMap(paramsMap)
        globals.currentBuild = currentBuild
        globals.scm = [symbol: 'scm', type: 'GitSCM']
        globals.steps = new StepsGlobal(this)
    }

    // ------------------------------------------------------------------ public API

    EnvVars getEnv() {
        return envVars
    }

    void setEnv(Map m) {
        envVars.clear()
        envVars.putAll(m)
    }

    Map getParams() {
        return paramsMap
    }

    void setParams(Map m) {
        paramsMap.clear()
        paramsMap.putAll(m)
    }

    /** id → secret: a String for string() (and file(): the file's content), [username:, password:] for usernamePassword(). */
    Map getCredentials() {
        return credentialsMap
    }

    void setCredentials(Map m) {
        credentialsMap.clear()
        credentialsMap.putAll(m)
    }

    /** regex → [stdout: String, status: int] (or a Closure(script) returning one): canned sh results. */
    Map getShMocks() {
        return shMocksMap
    }

    void setShMocks(Map m) {
        shMocksMap.clear()
        shMocksMap.putAll(m)
    }

    String getLog() {
        return logBuffer.toString()
    }

    /** The script text of every sh call so far. */
    List<String> getShScripts() {
        return calls.findAll { it.step == 'sh' }.collect { it.named.script as String }
    }

    /** Calls to one step or var, e.g. callsTo('sh'), callsTo('mlopsCli'), callsTo('mlopsCli.absolute'). */
    List<Map> callsTo(String step) {
        return calls.findAll { it.step == step }
    }

    /** Make a step "not installed": calling it throws NoSuchMethodError like Jenkins. */
    void disableStep(String name) {
        disabledSteps << name
    }

    /** Replace a step's behaviour (the call is still recorded); the closure gets the step's arguments. */
    void stubStep(String name, Closure impl) {
        Map d = stepDefs[name]
        stepDefs[name] = (d ?: [params: null, positional: [], logged: true]) + [stub: impl]
        bindings.each { b ->
            if (!b.getVariables().containsKey(name)) {
                b.setVariable(name, new StepProxy(this, name))
            }
        }
    }

    /**
     * Stand in for a library var (calls are still recorded): a Closure for `name(...)`, or a Map of
     * method name → Closure (key 'call' for `name(...)`) for vars with several methods.
     */
    void stubVar(String name, Object impl) {
        varStubs[name] = impl
        bindings.each { it.setVariable(name, new VarProxy(this, name)) }
    }

    /** Set a global (any object) in every script's Binding, present and future. */
    void global(String name, Object value) {
        globals[name] = value
        bindings.each { it.setVariable(name, value) }
    }

    /** Runs a Jenkinsfile as Jenkins would; build failures end up in the result, never thrown. */
    BuildResult runJenkinsfile(String scriptText) {
        paramsToEnv()
        Throwable error = null
        try {
            Script script = newScript(compile(scriptText, 'WorkflowScript'))
            script.run()
        } catch (Throwable t) {
            rethrowIfHarnessError(t)
            error = t
            markFailure(t)
            logError(t)
        }
        appendLog("Finished: ${currentBuild.currentResult}")
        return new BuildResult(result: currentBuild.currentResult, log: getLog(),
            description: currentBuild.description, displayName: currentBuild.displayName, error: error,
            stagesRun: new ArrayList<String>(stagesRun), stagesSkipped: new ArrayList<String>(stagesSkipped))
    }

    BuildResult runJenkinsfile(File jenkinsfile) {
        return runJenkinsfile(jenkinsfile.getText('UTF-8'))
    }

    /**
     * Calls a library var (or step) directly, as from a script inside `node {}`. An exception
     * (e.g. AbortException from error()) marks the build FAILURE (ABORTED for an interruption),
     * is logged as Jenkins would, and is thrown to the test.
     */
    Object callStep(String name, Object... args) {
        paramsToEnv()
        PipelineBinding b = newBinding()
        if (!b.getVariables().containsKey(name)) {
            throw new HarnessAssertionError("callStep: no library var or step named '${name}'")
        }
        Object target = b.getVariables().get(name)
        nodeDepth++
        try {
            return InvokerHelper.invokeMethod(target, 'call', args)
        } catch (Throwable t) {
            rethrowIfHarnessError(t)
            markFailure(t)
            logError(t)
            throw t
        } finally {
            nodeDepth--
        }
    }

    /** Version of the library as Jenkins exposes it in env.'library.<name>.version'. */
    static String readLibraryVersion(File libraryRoot) {
        File init = new File(libraryRoot, 'mlops_helpers/__init__.py')
        if (!init.isFile()) {
            return null
        }
        def m = init.getText('UTF-8') =~ /(?m)^__version__\s*=\s*['"]([^'"]+)['"]/
        return m.find() ? m.group(1) : null
    }

    /** The repository root: the runner sets -Dmlops.repoRoot; otherwise the working directory. */
    static File repoRoot() {
        return new File(System.getProperty('mlops.repoRoot') ?: '.').canonicalFile
    }

    // ------------------------------------------------------------------ scripts and vars

    private GroovyShell createShell() {
        CompilerConfiguration cc = new CompilerConfiguration()
        ImportCustomizer imports = new ImportCustomizer()
        imports.addImports('org.jenkinsci.plugins.workflow.libs.Library', 'com.cloudbees.groovy.cps.NonCPS')
        cc.addCompilationCustomizers(imports)
        cc.scriptBaseClass = PipelineScript.name
        cc.sourceEncoding = 'UTF-8'
        GroovyShell s = new GroovyShell(PipelineHarness.classLoader, new Binding(), cc)
        File src = new File(libraryRoot, 'src')
        if (src.isDirectory()) {
            s.classLoader.addClasspath(src.path)
        }
        return s
    }

    private Class compile(String text, String className) {
        GroovyCodeSource source = new GroovyCodeSource(text, className, '/groovy/shell')
        source.cachable = false
        return shell.classLoader.parseClass(source, false)
    }

    private Script newScript(Class scriptClass) {
        Script s = (Script) scriptClass.newInstance()
        s.binding = newBinding()
        return s
    }

    PipelineBinding newBinding() {
        Map vars = [:]
        stepDefs.keySet().each { vars[it] = new StepProxy(this, it) }
        // As in Jenkins, a library var hides a step of the same name (`steps.x` still reaches the step).
        (varNames() + varStubs.keySet()).each { vars[it] = new VarProxy(this, it) }
        vars.putAll(globals)
        PipelineBinding b = new PipelineBinding(this, vars)
        bindings << b
        return b
    }

    private Set<String> varNames() {
        File dir = new File(libraryRoot, 'vars')
        Set<String> names = [] as Set
        dir.eachFileMatch(~/.*\.groovy/) { names << it.name[0..-8] }
        return names
    }

    Script varScript(VarProxy proxy) {
        if (proxy.cachedScript() == null) {
            String name = proxy.varName()
            Class c = varClasses[name]
            if (c == null) {
                File f = new File(libraryRoot, "vars/${name}.groovy")
                if (!f.isFile()) {
                    throw new HarnessAssertionError("no vars/${name}.groovy in ${libraryRoot}")
                }
                c = compile(f.getText('UTF-8'), name)
                varClasses[name] = c
            }
            proxy.cacheScript(newScript(c))
        }
        return proxy.cachedScript()
    }

    Object invokeVar(VarProxy proxy, String method, Object[] args) {
        String name = proxy.varName()
        List plainArgs = (args as List).findAll { !(it instanceof Closure) }
        record(method == 'call' ? name : "${name}.${method}".toString(), plainArgs,
            plainArgs.size() == 1 && plainArgs[0] instanceof Map ? (Map) DslSupport.plain(plainArgs[0]) : [:])
        if (varStubs.containsKey(name)) {
            Object stub = varStubs[name]
            Closure c = stub instanceof Closure ? (method == 'call' ? (Closure) stub : null) : (Closure) ((Map) stub)[method]
            if (c == null) {
                throw new MissingMethodException(method, VarProxy, args)
            }
            return c.call(*args)
        }
        return varScript(proxy).invokeMethod(method, args)
    }

    // ------------------------------------------------------------------ steps

    Object invokeStep(String name, List args) {
        if (disabledSteps.contains(name) || !stepDefs.containsKey(name)) {
            throw new NoSuchMethodError("No such DSL method '${name}' found among steps " +
                "${(stepDefs.keySet() - disabledSteps).sort()} or globals ${globalNames()}")
        }
        Map d = stepDefs[name]
        Closure body = args && args[-1] instanceof Closure ? (Closure) args[-1] : null
        List plainArgs = body != null ? args.subList(0, args.size() - 1) : args
        Map named = namedArgs(name, d, plainArgs)
        if (!d.symbol) {
            record(name, plainArgs, named)
        }
        if (d.logged) {
            appendLog("[Pipeline] ${name}")
        }
        if (d.node && requireNode && nodeDepth == 0) {
            throw new MissingContextVariableException(name)
        }
        if (d.stub) {
            return ((Closure) d.stub).call(*args)
        }
        return ((Closure) d.impl).call(named, body, plainArgs)
    }

    private List<String> globalNames() {
        return (globals.keySet() + varNames() + varStubs.keySet()).findAll {
            !stepDefs.containsKey(it)
        }.sort()
    }

    private Map namedArgs(String name, Map d, List plainArgs) {
        if (d.raw) {
            return [:]
        }
        Map named
        List<String> params = d.params as List<String>
        if (plainArgs.size() == 1 && plainArgs[0] instanceof Map &&
            (params == null || ((Map) plainArgs[0]).isEmpty() || ((Map) plainArgs[0]).keySet().any { params.contains(it.toString()) })) {
            named = (Map) DslSupport.plain(plainArgs[0])
        } else {
            named = [:]
            List<String> positional = (d.positional ?: []) as List<String>
            if (plainArgs.size() > positional.size()) {
                throw new IllegalArgumentException("${name}: expected at most ${positional.size()} positional " +
                    "argument(s) ${positional}, got ${plainArgs.size()}: ${plainArgs}")
            }
            plainArgs.eachWithIndex { v, i -> named[positional[i]] = DslSupport.plain(v) }
        }
        if (params != null) {
            List unknown = named.keySet().findAll { !params.contains(it.toString()) }.toList()
            if (unknown) {
                String msg = "WARNING: Unknown parameter(s) found for step '${name}': ${unknown.join(', ')}"
                warnings << msg
                appendLog(msg)
                if (strictStepParameters) {
                    throw new HarnessAssertionError("${msg} (known: ${params.join(', ')}; " +
                        'set strictStepParameters = false to only warn, as Jenkins does)')
                }
            }
        }
        return named
    }

    private void record(String step, List plainArgs, Map named) {
        Object recorded = plainArgs.size() == 1 ? DslSupport.plain(plainArgs[0]) : DslSupport.plain(plainArgs)
        calls << [step: step, args: recorded, named: named]
    }

    private void step(String name, Map options, Closure impl) {
        stepDefs[name] = [params: null, positional: [], logged: true, node: false] + options + [impl: impl]
    }

    private Map descriptor(String symbol, Map args) {
        return [symbol: symbol] + args
    }

    @SuppressWarnings('MethodSize')
    private void defineSteps() {
        step('sh', [params: ['script', 'returnStdout', 'returnStatus', 'encoding', 'label'], positional: ['script'],
            node: true]) { Map a, Closure body, List raw -> sh(a) }
        step('echo', [params: ['message'], positional: ['message']]) { Map a, Closure body, List raw ->
            appendLog(String.valueOf(a.message))
            null
        }
        step('error', [params: ['message'], positional: ['message']]) { Map a, Closure body, List raw ->
            throw new AbortException(String.valueOf(a.message))
        }
        step('unstable', [params: ['message'], positional: ['message']]) { Map a, Closure body, List raw ->
            appendLog("WARNING: ${a.message}")
            setStageResult('UNSTABLE')
            currentBuild.result = 'UNSTABLE'
            null
        }
        step('stage', [params: ['name', 'concurrency'], positional: ['name'], logged: false]) { Map a, Closure body, List raw ->
            scriptedStage(a.name.toString(), body)
        }
        step('withCredentials', [params: ['bindings'], positional: ['bindings']]) { Map a, Closure body, List raw ->
            withCredentials(a.bindings as List, body)
        }
        step('withEnv', [params: ['overrides'], positional: ['overrides']]) { Map a, Closure body, List raw ->
            withOverlay(parseOverrides(a.overrides as List), body)
        }
        step('dir', [params: ['path'], positional: ['path'], node: true]) { Map a, Closure body, List raw ->
            dirStack << resolve(a.path.toString())
            try {
                return body.call()
            } finally {
                dirStack.remove(dirStack.size() - 1)
            }
        }
        step('pwd', [params: ['tmp'], node: true]) { Map a, Closure body, List raw ->
            File d = a.tmp ? new File(currentDir().path + '@tmp') : currentDir()
            if (a.tmp) {
                d.mkdirs()
            }
            d.path
        }
        step('writeFile', [params: ['file', 'text', 'encoding'], node: true]) { Map a, Closure body, List raw ->
            if (a.file == null || a.text == null) {
                throw new IllegalArgumentException('writeFile: file and text are required')
            }
            File f = resolve(a.file.toString())
            f.parentFile.mkdirs()
            if (a.encoding == 'Base64') {
                f.bytes = a.text.toString().decodeBase64()
            } else {
                f.setText(a.text.toString(), (a.encoding ?: 'UTF-8').toString())
            }
            null
        }
        step('readFile', [params: ['file', 'encoding'], positional: ['file'], node: true]) { Map a, Closure body, List raw ->
            File f = resolve(a.file.toString())
            if (!f.isFile()) {
                throw new NoSuchFileException(f.path)
            }
            a.encoding == 'Base64' ? f.bytes.encodeBase64().toString() : f.getText((a.encoding ?: 'UTF-8').toString())
        }
        step('fileExists', [params: ['file'], positional: ['file'], node: true]) { Map a, Closure body, List raw ->
            resolve((a.file ?: '').toString()).exists()
        }
        step('deleteDir', [params: [], node: true]) { Map a, Closure body, List raw ->
            currentDir().deleteDir()
            null
        }
        step('isUnix', [params: [], node: true]) { Map a, Closure body, List raw -> true }
        step('timeout', [params: ['time', 'unit', 'activity'], positional: ['time']]) { Map a, Closure body, List raw ->
            body.call()
        }
        step('node', [params: ['label'], positional: ['label']]) { Map a, Closure body, List raw ->
            onNode(a.label?.toString(), body)
        }
        step('container', [params: ['name', 'shell'], positional: ['name']]) { Map a, Closure body, List raw ->
            body.call()
        }
        step('timestamps', [params: []]) { Map a, Closure body, List raw -> body.call() }
        step('lock', [params: ['resource', 'label', 'quantity', 'variable', 'inversePrecedence', 'skipIfLocked'],
            positional: ['resource']]) { Map a, Closure body, List raw -> body.call() }
        step('script', [params: [], logged: false]) { Map a, Closure body, List raw -> body.call() }
        step('retry', [params: ['count', 'conditions'], positional: ['count']]) { Map a, Closure body, List raw ->
            retry(a.count as int, body)
        }
        step('catchError', [params: ['buildResult', 'stageResult', 'message', 'catchInterruptions']]) { Map a, Closure body, List raw ->
            catchError(a, body)
        }
        step('sleep', [params: ['time', 'unit'], positional: ['time']]) { Map a, Closure body, List raw ->
            appendLog("Sleeping for ${a.time} ${a.unit ?: 'SECONDS'} (skipped by the harness)")
            null
        }
        step('parallel', [raw: true]) { Map a, Closure body, List raw -> parallel((Map) raw[0]) }
        step('libraryResource', [params: ['resource', 'encoding'], positional: ['resource']]) { Map a, Closure body, List raw ->
            libraryResource(a.resource.toString(), a.encoding?.toString())
        }
        step('load', [params: ['path'], positional: ['path'], node: true]) { Map a, Closure body, List raw ->
            File f = resolve(a.path.toString())
            if (!f.isFile()) {
                throw new NoSuchFileException(f.path)
            }
            String className = f.name.replaceAll(/\.groovy$/, '').replaceAll(/[^A-Za-z0-9_]/, '_')
            newScript(compile(f.getText('UTF-8'), className)).run()
        }
        step('readJSON', [params: ['file', 'text', 'returnPojo'], node: true]) { Map a, Closure body, List raw ->
            readJson(a)
        }
        step('writeJSON', [params: ['file', 'json', 'pretty', 'returnText'], node: true]) { Map a, Closure body, List raw ->
            String text = JsonOutput.toJson(a.json)
            if (a.pretty) {
                text = JsonOutput.prettyPrint(text)
            }
            if (a.returnText) {
                return text
            }
            File f = resolve(a.file.toString())
            f.parentFile.mkdirs()
            f.setText(text, 'UTF-8')
            null
        }
        step('junit', [params: ['testResults', 'allowEmptyResults', 'keepLongStdio', 'healthScaleFactor',
            'skipPublishingChecks', 'skipMarkingBuildUnstable', 'checksName', 'testDataPublishers',
            'keepProperties', 'keepTestNames', 'stdioRetention', 'skipOldReports'], positional: ['testResults'],
            node: true]) { Map a, Closure body, List raw -> junit(a) }
        step('archiveArtifacts', [params: ['artifacts', 'allowEmptyArchive', 'fingerprint', 'excludes',
            'onlyIfSuccessful', 'caseSensitive', 'defaultExcludes', 'followSymlinks'], positional: ['artifacts'],
            node: true]) { Map a, Closure body, List raw -> archiveArtifacts(a) }
        step('publishHTML', [params: ['target'], positional: ['target'], node: true]) { Map a, Closure body, List raw ->
            htmlReports << (Map) a.target
            null
        }
        step('stash', [params: ['name', 'includes', 'excludes', 'allowEmpty', 'useDefaultExcludes'], positional: ['name'],
            node: true]) { Map a, Closure body, List raw ->
            stashes << a
            null
        }
        step('unstash', [params: ['name'], positional: ['name'], node: true]) { Map a, Closure body, List raw -> null }
        // MOCK of Jenkins' `build` step (pipeline-build-step): records the request in `builds`, starts nothing.
        // wait: false returns null; otherwise a finished downstream build with `downstreamResult`, which fails
        // this build unless SUCCESS or propagate: false.
        step('build', [params: ['job', 'parameters', 'wait', 'propagate', 'quietPeriod', 'waitForStart'],
            positional: ['job']]) { Map a, Closure body, List raw ->
            builds << a
            appendLog("Scheduling project: ${a.job}")
            if (a.containsKey('wait') && !a.wait) {
                return null
            }
            appendLog("Starting building: ${a.job} #1")
            if (a.propagate != false && downstreamResult != 'SUCCESS') {
                throw new AbortException("${a.job} #1 completed with status ${downstreamResult} " +
                    '(propagate: false to ignore)')
            }
            [result: downstreamResult, currentResult: downstreamResult, number: 1, projectName: a.job]
        }
        step('input', [params: ['message', 'id', 'ok', 'parameters', 'submitter', 'submitterParameter'],
            positional: ['message']]) { Map a, Closure body, List raw -> input(a) }
        step('checkout', [params: ['scm', 'changelog', 'poll'], positional: ['scm'], node: true]) { Map a, Closure body, List raw ->
            [:]
        }
        step('properties', [params: ['properties'], positional: ['properties']]) { Map a, Closure body, List raw ->
            jobProperties.clear()
            jobProperties.addAll(a.properties as List)
            (a.properties as List).findAll { it instanceof Map && it.symbol == 'parameters' }.each {
                applyParameterDefaults(it.parameterDefinitions as List)
            }
            null
        }
        step('pipeline', [raw: true, logged: false]) { Map a, Closure body, List raw -> runDeclarative(body) }
        // The library under test is always loaded; `library` records which version was asked for,
        // and sets env.'library.<name>.version' as Jenkins does.
        step('library', [params: ['identifier', 'retriever', 'changelog'], positional: ['identifier']]) { Map a, Closure body, List raw ->
            String identifier = a.identifier as String
            if (!identifier.startsWith("${libraryName}@") && identifier != libraryName) {
                throw new AbortException("No library named ${identifier.tokenize('@')[0]} found")
            }
            if (identifier.contains('@')) {
                envVars.put("library.${libraryName}.version".toString(), identifier.substring(identifier.indexOf('@') + 1))
            }
            null
        }
        // Describables used as step arguments: not recorded in calls, not logged.
        Map symbol = [logged: false, symbol: true]
        // `string(name:, value:)` is also the parameter value of a `build` step.
        step('string', symbol + [params: ['credentialsId', 'variable', 'name', 'defaultValue', 'description', 'trim',
            'value']]) { Map a, Closure body, List raw ->
            a.credentialsId != null ? descriptor('string', a) : descriptor('string', [type: 'string'] + a)
        }
        step('usernamePassword', symbol + [params: ['credentialsId', 'usernameVariable', 'passwordVariable']]) { Map a, Closure body, List raw ->
            descriptor('usernamePassword', a)
        }
        step('file', symbol + [params: ['credentialsId', 'variable']]) { Map a, Closure body, List raw ->
            descriptor('file', a)
        }
        ['booleanParam', 'choice', 'text', 'password'].each { type ->
            step(type, symbol + [params: ['name', 'defaultValue', 'description', 'choices', 'trim']]) { Map a, Closure body, List raw ->
                descriptor(type, [type: type] + a)
            }
        }
        step('parameters', symbol + [params: ['parameterDefinitions'], positional: ['parameterDefinitions']]) { Map a, Closure body, List raw ->
            descriptor('parameters', a)
        }
        step('buildDiscarder', symbol + [params: ['strategy'], positional: ['strategy']]) { Map a, Closure body, List raw ->
            descriptor('buildDiscarder', a)
        }
        step('logRotator', symbol + [params: ['numToKeepStr', 'daysToKeepStr', 'artifactNumToKeepStr',
            'artifactDaysToKeepStr']]) { Map a, Closure body, List raw -> descriptor('logRotator', a) }
        step('cron', symbol + [params: ['spec'], positional: ['spec']]) { Map a, Closure body, List raw ->
            descriptor('cron', a)
        }
        step('legacySCM', symbol + [params: ['scm'], positional: ['scm']]) { Map a, Closure body, List raw ->
            descriptor('legacySCM', a)
        }
        step('pollSCM', symbol + [params: ['scmpoll_spec'], positional: ['scmpoll_spec']]) { Map a, Closure body, List raw ->
            descriptor('pollSCM', a)
        }
        step('pipelineTriggers', symbol + [params: ['triggers'], positional: ['triggers']]) { Map a, Closure body, List raw ->
            descriptor('pipelineTriggers', a)
        }
        step('disableConcurrentBuilds', symbol + [params: ['abortPrevious']]) { Map a, Closure body, List raw ->
            descriptor('disableConcurrentBuilds', a)
        }
    }

    // ------------------------------------------------------------------ step implementations

    private Object sh(Map a) {
        if (a.script == null) {
            throw new IllegalArgumentException('sh: script is required')
        }
        String script = a.script.toString()
        boolean wantStdout = a.returnStdout as boolean
        boolean wantStatus = a.returnStatus as boolean
        if (wantStdout && wantStatus) {
            throw new IllegalArgumentException('returnStdout and returnStatus are mutually exclusive')
        }
        activeSecrets.each { Map s ->
            if (script.contains(s.text as String)) {
                throw new HarnessAssertionError("secret interpolated into sh: the script contains the value of " +
                    "credential '${s.id}' (bound to \$${s.variable}). Jenkins warns 'A secret was passed to " +
                    "\"sh\" using Groovy String interpolation, which is insecure': use a single-quoted " +
                    "string and let the shell expand \$${s.variable}")
            }
        }
        String stdout
        int status
        Map mock = shMock(script)
        if (mock != null) {
            stdout = (mock.stdout ?: '').toString()
            status = (mock.status ?: 0) as int
            appendLog("+ ${script} (mocked)")
            if (!wantStdout && stdout) {
                appendLog(stdout)
            }
        } else {
            Map run = runProcess(script, wantStdout, (a.encoding ?: 'UTF-8').toString())
            stdout = run.stdout
            status = run.status as int
        }
        if (wantStatus) {
            return status
        }
        if (status != 0) {
            throw new AbortException("script returned exit code ${status}")
        }
        return wantStdout ? stdout : null
    }

    private Map shMock(String script) {
        for (Map.Entry e : shMocksMap.entrySet()) {
            if (script =~ e.key.toString()) {
                Object v = e.value
                return (Map) (v instanceof Closure ? ((Closure) v).call(script) : v)
            }
        }
        return null
    }

    private Map runProcess(String script, boolean captureStdout, String encoding) {
        File cwd = currentDir()
        cwd.mkdirs()
        File scriptFile = null
        List<String> command
        if (script.startsWith('#!')) {
            // Like Jenkins: a script with a shebang line runs with that interpreter.
            File tmp = new File(cwd.path + '@tmp')
            tmp.mkdirs()
            scriptFile = File.createTempFile('script', '.sh', tmp)
            scriptFile.setText(script, encoding)
            scriptFile.setExecutable(true)
            command = [scriptFile.path]
        } else {
            command = ['/bin/sh', '-xe', '-c', script]
        }
        try {
            ProcessBuilder pb = new ProcessBuilder(command).directory(cwd)
            pb.environment().clear()
            pb.environment().putAll(envVars.toProcessEnvironment())
            pb.redirectErrorStream(!captureStdout)
            Process p = pb.start()
            p.outputStream.close()
            ByteArrayOutputStream out = new ByteArrayOutputStream()
            ByteArrayOutputStream err = new ByteArrayOutputStream()
            Thread outReader = p.consumeProcessOutputStream(out)
            Thread errReader = p.consumeProcessErrorStream(err)
            if (!p.waitFor(shTimeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly()
                appendLogRaw(out.toString(encoding))
                throw new HarnessAssertionError("sh did not finish within ${shTimeoutSeconds} s (harness " +
                    "shTimeoutSeconds): ${script.readLines().first()}")
            }
            outReader.join()
            errReader.join()
            int status = p.exitValue()
            String stdout = out.toString(encoding)
            String stderr = err.toString(encoding)
            if (captureStdout) {
                appendLogRaw(stderr)
            } else {
                appendLogRaw(stdout)
            }
            return [stdout: stdout, status: status]
        } finally {
            scriptFile?.delete()
        }
    }

    private Object scriptedStage(String name, Closure body) {
        appendLog('[Pipeline] stage')
        appendLog("[Pipeline] { (${name})")
        stagesRun << name
        Map ctx = [name: name, result: 'SUCCESS']
        stageStack << ctx
        try {
            return body?.call()
        } catch (Throwable t) {
            rethrowIfHarnessError(t)
            ctx.result = CurrentBuild.worst(ctx.result as String, resultFor(t))
            throw t
        } finally {
            stageStack.remove(stageStack.size() - 1)
            appendLog('[Pipeline] }')
            appendLog('[Pipeline] // stage')
        }
    }

    private Object withCredentials(List bindingsList, Closure body) {
        Map<String, String> overlay = [:]
        List<Map> secrets = []
        List<File> files = []
        try {
            bindingsList.each { Object item ->
                if (!(item instanceof Map) || !((Map) item).symbol) {
                    throw new IllegalArgumentException("withCredentials: not a credentials binding: ${item}")
                }
                Map b = (Map) item
                String id = b.credentialsId?.toString()
                if (!credentialsMap.containsKey(id)) {
                    throw new AbortException("Could not find credentials entry with ID '${id}'")
                }
                Object value = credentialsMap[id]
                switch (b.symbol) {
                    case 'string':
                        requireType(id, value instanceof CharSequence, 'Secret text')
                        overlay[b.variable.toString()] = value.toString()
                        secrets << [text: value.toString(), id: id, variable: b.variable]
                        break
                    case 'usernamePassword':
                        requireType(id, value instanceof Map && ((Map) value).password != null, 'Username with password')
                        Map up = (Map) value
                        if (b.usernameVariable) {
                            overlay[b.usernameVariable.toString()] = up.username?.toString() ?: ''
                            if (up.usernameSecret) {
                                secrets << [text: up.username.toString(), id: id, variable: b.usernameVariable]
                            }
                        }
                        if (b.passwordVariable) {
                            overlay[b.passwordVariable.toString()] = up.password.toString()
                        }
                        secrets << [text: up.password.toString(), id: id, variable: b.passwordVariable]
                        break
                    case 'file':
                        requireType(id, value instanceof CharSequence || (value instanceof Map && ((Map) value).content != null), 'Secret file')
                        String content = value instanceof Map ? ((Map) value).content.toString() : value.toString()
                        String fileName = value instanceof Map && ((Map) value).fileName ? ((Map) value).fileName.toString() : id
                        File dir = new File(new File(currentDir().path + '@tmp'), "secretFiles/${UUID.randomUUID()}")
                        dir.mkdirs()
                        File f = new File(dir, fileName)
                        f.setText(content, 'UTF-8')
                        files << dir
                        overlay[b.variable.toString()] = f.path
                        secrets << [text: content, id: id, variable: b.variable]
                        break
                    default:
                        throw new IllegalArgumentException("withCredentials: unsupported binding ${b.symbol}")
                }
            }
            appendLog("Masking supported pattern matches of ${overlay.keySet().collect { '$' + it }.join(' or ')}")
            secrets.removeAll { !(it.text as String) }
            activeSecrets.addAll(secrets)
            return withOverlay(overlay, body)
        } finally {
            secrets.each { s -> activeSecrets.removeAll { it.is(s) } }
            files.each { it.deleteDir() }
        }
    }

    private static void requireType(String id, boolean ok, String expected) {
        if (!ok) {
            throw new AbortException("Credentials '${id}' is not of type '${expected}' (check the harness credentials map)")
        }
    }

    private Map<String, String> parseOverrides(List overrides) {
        Map<String, String> overlay = [:]
        (overrides ?: []).each { Object item ->
            String s = item.toString()
            int eq = s.indexOf('=')
            if (eq < 1) {
                throw new IllegalArgumentException("withEnv: '${s}' is not KEY=VALUE")
            }
            String key = s.substring(0, eq)
            String value = s.substring(eq + 1)
            int plus = key.indexOf('+')
            if (plus > 0) {
                key = key.substring(0, plus)
                String current = overlay.containsKey(key) ? overlay[key] : envVars.get(key)
                value = current ? "${value}${File.pathSeparator}${current}".toString() : value
            }
            overlay[key] = value
        }
        return overlay
    }

    /** Runs body with extra env variables, then restores just those keys (env.X set inside survives). */
    Object withOverlay(Map<String, String> overlay, Closure body) {
        Map<String, Object> saved = [:]
        Set<String> absent = [] as Set
        overlay.keySet().each { k ->
            if (envVars.containsKey(k)) {
                saved[k] = envVars.get(k)
            } else {
                absent << k
            }
        }
        overlay.each { k, v -> envVars.put(k, v) }
        try {
            return body.call()
        } finally {
            saved.each { k, v -> envVars.put(k, v) }
            absent.each { envVars.remove(it) }
        }
    }

    private Object onNode(String label, Closure body) {
        appendLog("Running on ${label ?: 'built-in'} in ${workspace.path}")
        nodeDepth++
        try {
            return withOverlay([NODE_NAME: label ?: 'built-in', NODE_LABELS: label ?: 'built-in',
                WORKSPACE: workspace.path], body)
        } finally {
            nodeDepth--
        }
    }

    private Object retry(int count, Closure body) {
        for (int attempt = 1; ; attempt++) {
            try {
                return body.call()
            } catch (Throwable t) {
                rethrowIfHarnessError(t)
                if (t instanceof FlowInterruptedException || attempt >= count) {
                    throw t
                }
                appendLog("ERROR: ${t.message}")
                appendLog('Retrying')
            }
        }
    }

    private Object catchError(Map a, Closure body) {
        try {
            return body.call()
        } catch (Throwable t) {
            rethrowIfHarnessError(t)
            if (t instanceof FlowInterruptedException && a.catchInterruptions == false) {
                throw t
            }
            String buildResult = a.containsKey('buildResult') ? a.buildResult?.toString() : 'FAILURE'
            String stageResult = a.containsKey('stageResult') ? a.stageResult?.toString() : 'SUCCESS'
            if (t instanceof FlowInterruptedException) {
                buildResult = CurrentBuild.worst(buildResult, ((FlowInterruptedException) t).result)
            }
            if (a.message) {
                appendLog(a.message.toString())
            }
            appendLog("ERROR: ${t.message}")
            if (buildResult) {
                currentBuild.result = buildResult
            }
            if (stageResult) {
                setStageResult(CurrentBuild.normalise(stageResult))
            }
            return null
        }
    }

    private Map parallel(Map branchesIn) {
        Map branches = new LinkedHashMap(branchesIn)
        boolean failFast = branches.remove('failFast') as boolean
        Map results = [:]
        Throwable first = null
        branches.each { name, closure ->
            if (first != null && failFast) {
                appendLog("[${name}] Failed in branch ${name}: not run, another branch failed (failFast)")
                return
            }
            try {
                results[name] = ((Closure) closure).call()
            } catch (Throwable t) {
                rethrowIfHarnessError(t)
                appendLog("Failed in branch ${name}")
                first = first ?: t
            }
        }
        if (first != null) {
            throw first
        }
        return results
    }

    private String libraryResource(String path, String encoding) {
        File f = new File(libraryRoot, "resources/${path}")
        if (path.split('/').contains('..') || !f.isFile()) {
            throw new AbortException("No such library resource ${path} could be found.")
        }
        return encoding == 'Base64' ? f.bytes.encodeBase64().toString() : f.getText(encoding ?: 'UTF-8')
    }

    private Object readJson(Map a) {
        if ((a.file == null) == (a.text == null)) {
            throw new IllegalArgumentException('readJSON: give exactly one of file or text')
        }
        String text
        if (a.file != null) {
            File f = resolve(a.file.toString())
            if (!f.isFile()) {
                throw new FileNotFoundException("${f.path} does not exist.")
            }
            text = f.getText('UTF-8')
        } else {
            text = a.text.toString()
        }
        return new JsonSlurperClassic().parseText(text)
    }

    private Map junit(Map a) {
        File base = currentDir()
        List<String> files = Glob.find(base, a.testResults)
        appendLog('Recording test results')
        int total = 0
        int failed = 0
        int skipped = 0
        if (files.isEmpty()) {
            if (!a.allowEmptyResults) {
                throw new AbortException('No test report files were found. Configuration error?')
            }
        }
        files.each { String rel ->
            Map counts
            try {
                counts = countTests(new File(base, rel))
            } catch (Exception e) {
                throw new AbortException("Failed to read test report file ${new File(base, rel).path}: ${e.message}")
            }
            junitReports << [file: rel, tests: counts.tests, failures: counts.failures, skipped: counts.skipped]
            total += counts.tests as int
            failed += counts.failures as int
            skipped += counts.skipped as int
        }
        if (files && total == 0 && !a.allowEmptyResults) {
            throw new AbortException('None of the test reports contained any result')
        }
        if (failed > 0 && !a.skipMarkingBuildUnstable) {
            setStageResult('UNSTABLE')
            currentBuild.result = 'UNSTABLE'
        }
        return [totalCount: total, failCount: failed, skipCount: skipped, passCount: total - failed - skipped]
    }

    private static Map countTests(File f) {
        def root = new XmlSlurper(false, false).parse(f)
        List cases = root.'**'.findAll { it.name() == 'testcase' }
        if (cases) {
            int failures = cases.count { c -> c.children().any { it.name() in ['failure', 'error'] } } as int
            int skipped = cases.count { c -> c.children().any { it.name() == 'skipped' } } as int
            return [tests: cases.size(), failures: failures, skipped: skipped]
        }
        List suites = root.name() == 'testsuite' ? [root] : root.'**'.findAll { it.name() == 'testsuite' }
        int tests = 0
        int failures = 0
        int skipped = 0
        suites.each { s ->
            tests += (s.@tests.text() ?: '0') as int
            failures += ((s.@failures.text() ?: '0') as int) + ((s.@errors.text() ?: '0') as int)
            skipped += (s.@skipped.text() ?: '0') as int
        }
        return [tests: tests, failures: failures, skipped: skipped]
    }

    private Object archiveArtifacts(Map a) {
        if (a.onlyIfSuccessful && currentBuild.currentResult != 'SUCCESS') {
            appendLog('Skipped archiving because build is not successful')
            return null
        }
        List<String> files = Glob.find(currentDir(), a.artifacts, a.excludes)
        appendLog('Archiving artifacts')
        if (files.isEmpty() && !a.allowEmptyArchive) {
            throw new AbortException("No artifacts found that match the file pattern \"${a.artifacts}\". Configuration error?")
        }
        files.each { if (!archived.contains(it)) { archived << it } }
        return null
    }

    private Object input(Map a) {
        if (!a.message) {
            throw new IllegalArgumentException('input: message is required')
        }
        inputs << a
        appendLog(a.message.toString())
        appendLog("${a.ok ?: 'Proceed'} or Abort")
        if (inputResponse == 'abort') {
            appendLog("Rejected by ${inputSubmitter}")
            throw new FlowInterruptedException('ABORTED', "Rejected by ${inputSubmitter}".toString())
        }
        if (inputResponse != 'proceed') {
            throw new HarnessAssertionError("inputResponse must be 'proceed' or 'abort', not '${inputResponse}'")
        }
        appendLog("Approved by ${inputSubmitter}")
        Map values = [:]
        (a.parameters ?: []).each { Map p ->
            values[p.name] = inputValues.containsKey(p.name) ? inputValues[p.name] : parameterDefault(p)
        }
        if (a.submitterParameter) {
            values[a.submitterParameter] = inputSubmitter
        }
        if (values.isEmpty()) {
            return null
        }
        // As Jenkins: one parameter (and no submitterParameter) returns its value, several a Map.
        return values.size() == 1 && !a.submitterParameter ? values.values().first() : values
    }

    // ------------------------------------------------------------------ parameters

    private static Object parameterDefault(Map p) {
        switch (p.type) {
            case 'booleanParam':
                return p.defaultValue as boolean
            case 'choice':
                List choices = p.choices instanceof List ? (List) p.choices : p.choices?.toString()?.split('\n') as List
                return choices ? choices[0]?.toString() : null
            default:
                return p.defaultValue == null ? '' : p.defaultValue.toString()
        }
    }

    private void applyParameterDefaults(List definitions) {
        (definitions ?: []).each { Map p ->
            if (p.name != null && !paramsMap.containsKey(p.name)) {
                paramsMap[p.name.toString()] = parameterDefault(p)
            }
        }
        paramsToEnv()
    }

    /** Build parameters are also environment variables in Jenkins. */
    private void paramsToEnv() {
        paramsMap.each { k, v -> if (v != null) { envVars.put(k, v) } }
    }

    // ------------------------------------------------------------------ declarative

    private Object runDeclarative(Closure body) {
        if (body == null) {
            throw new IllegalArgumentException('pipeline needs a block')
        }
        if (pipelineRan) {
            throw new IllegalStateException('Only one pipeline { ... } block can be executed in a single run.')
        }
        pipelineRan = true
        DeclarativeModel m = new DeclarativeModel()
        DslSupport.read(body, new PipelineReader(m))
        if (m.agent == null) {
            throw new IllegalArgumentException("Missing required section 'agent'")
        }
        if (m.stages.isEmpty()) {
            throw new IllegalArgumentException("Missing required section 'stages'")
        }
        declarative.agent = m.agent
        declarative.options = m.options
        declarative.parameters = m.parameters
        declarative.triggers = m.triggers
        declarative.tools = m.tools
        declarative.environment = [:]
        declarative.stages = m.stages*.name
        declarative.stageAgents = [:]
        applyParameterDefaults(m.parameters)

        appendLog('[Pipeline] Start of Pipeline')
        boolean onNode = !m.agent.containsKey('none')
        if (onNode) {
            appendLog("Running on ${m.agent.label ?: 'built-in'} in ${workspace.path}")
            nodeDepth++
        }
        Throwable failure = null
        Map envScope = null
        try {
            try {
                envScope = openEnvironment(m.environment, (Map) declarative.environment)
            } catch (Throwable t) {
                rethrowIfHarnessError(t)
                failure = t
                markFailure(t)
            }
            m.stages.each { StageModel s ->
                String reason = skipReason(failure, m.options)
                Throwable e = runStage(s, reason, m.options)
                failure = failure ?: e
            }
            if (m.post) {
                appendLog('[Pipeline] stage')
                appendLog('[Pipeline] { (Declarative: Post Actions)')
                Throwable e = runPost(m.post, null)
                failure = failure ?: e
                appendLog('[Pipeline] }')
            }
        } finally {
            closeEnvironment(envScope)
            if (onNode) {
                nodeDepth--
            }
            appendLog('[Pipeline] End of Pipeline')
        }
        if (failure != null) {
            throw failure
        }
        return null
    }

    private String skipReason(Throwable failure, Map options) {
        if (failure != null) {
            return 'earlier failure(s)'
        }
        if (options.skipStagesAfterUnstable && currentBuild.currentResult == 'UNSTABLE') {
            return 'earlier stage(s) marking the build as unstable'
        }
        return null
    }

    /** Runs one declarative stage; returns its error (already reflected in the result) or null. */
    private Throwable runStage(StageModel s, String skip, Map pipelineOptions) {
        if (skip != null) {
            markSkipped(s, skip)
            return null
        }
        calls << [step: 'stage', args: s.name, named: [name: s.name]]
        appendLog('[Pipeline] stage')
        appendLog("[Pipeline] { (${s.name})")
        Map ctx = [name: s.name, result: 'SUCCESS']
        stageStack << ctx
        Throwable error = null
        boolean skippedByWhen = false
        boolean stageNode = s.agent != null && !s.agent.containsKey('none')
        if (s.agent != null) {
            ((Map) declarative.stageAgents)[s.name] = s.agent
        }
        Map envScope = null
        if (stageNode) {
            nodeDepth++
        }
        try {
            envScope = openEnvironment(s.environment, null)
            if (s.when != null && !evaluateWhen(s.when)) {
                skippedByWhen = true
                markSkipped(s, 'when conditional')
            } else {
                stagesRun << s.name
                if (s.input) {
                    Object answer = invokeStep('input', [s.input])
                    Map answers = answer instanceof Map ? (Map) answer :
                        (s.input.parameters ? [(((List<Map>) s.input.parameters)[0].name): answer] : [:])
                    answers.each { k, v -> if (v != null) { envVars.put(k, v) } }
                }
                if (s.steps != null) {
                    s.steps.call()
                } else {
                    runChildren(s, pipelineOptions)
                }
            }
        } catch (Throwable t) {
            rethrowIfHarnessError(t)
            error = t
            markFailure(t)
            ctx.result = CurrentBuild.worst(ctx.result as String, resultFor(t))
        }
        try {
            if (!skippedByWhen && s.post) {
                Throwable e = runPost(s.post, ctx)
                error = error ?: e
            }
        } finally {
            closeEnvironment(envScope)
            if (stageNode) {
                nodeDepth--
            }
            stageStack.remove(stageStack.size() - 1)
            appendLog('[Pipeline] }')
            appendLog('[Pipeline] // stage')
        }
        return error
    }

    private void runChildren(StageModel s, Map pipelineOptions) {
        Throwable first = null
        boolean parallelStages = s.parallel != null
        boolean failFast = s.failFast || pipelineOptions.parallelsAlwaysFailFast
        s.children().each { StageModel child ->
            String reason = null
            if (first != null && (!parallelStages || failFast)) {
                reason = 'earlier failure(s)'
            }
            Throwable e = runStage(child, reason, pipelineOptions)
            first = first ?: e
        }
        if (first != null) {
            throw first
        }
    }

    private void markSkipped(StageModel s, String reason) {
        appendLog("Stage \"${s.name}\" skipped due to ${reason}")
        stagesSkipped << s.name
        s.children().each { markSkipped(it, reason) }
    }

    private boolean evaluateWhen(Closure when) {
        WhenReader reader = new WhenReader(this)
        DslSupport.read(when, reader)
        return reader.allOf()
    }

    /** Post conditions in Jenkins' order; each sees the result as it is when its turn comes. */
    private Throwable runPost(Map<String, Closure> post, Map stageCtx) {
        Throwable error = null
        PostReader.ORDER.each { String condition ->
            Closure block = post[condition]
            if (block == null) {
                return
            }
            String result = currentBuild.currentResult
            if (stageCtx != null) {
                result = CurrentBuild.worst(result, stageCtx.result as String)
            }
            if (!postConditionMet(condition, result)) {
                return
            }
            try {
                block.call()
            } catch (Throwable t) {
                rethrowIfHarnessError(t)
                appendLog("Error when executing ${condition} post condition:")
                logError(t)
                markFailure(t)
                if (stageCtx != null) {
                    stageCtx.result = CurrentBuild.worst(stageCtx.result as String, resultFor(t))
                }
                error = error ?: t
            }
        }
        return error
    }

    private boolean postConditionMet(String condition, String result) {
        switch (condition) {
            case 'always':
            case 'cleanup':
                return true
            case 'success':
                return result == 'SUCCESS'
            case 'unstable':
                return result == 'UNSTABLE'
            case 'failure':
                return result == 'FAILURE'
            case 'aborted':
                return result == 'ABORTED'
            case 'notBuilt':
                return result == 'NOT_BUILT'
            case 'unsuccessful':
                return result != 'SUCCESS'
            case 'changed':
                return previousResult != null && previousResult != result
            case 'fixed':
                return result == 'SUCCESS' && previousResult in ['FAILURE', 'UNSTABLE']
            case 'regression':
                return previousResult == 'SUCCESS' && result != 'SUCCESS'
            default:
                return false
        }
    }

    /** Applies an environment {} block; returns what closeEnvironment needs to undo it. */
    private Map openEnvironment(Closure block, Map record) {
        Map scope = [saved: [:], absent: [] as Set, secrets: [], files: []]
        if (block == null) {
            return scope
        }
        Closure remember = { String key ->
            if (!scope.saved.containsKey(key) && !scope.absent.contains(key)) {
                if (envVars.containsKey(key)) {
                    scope.saved[key] = envVars.get(key)
                } else {
                    scope.absent << key
                }
            }
        }
        Closure onSet = { String name, Object value ->
            remember(name)
            if (value instanceof CredentialRef) {
                bindEnvironmentCredential(name, ((CredentialRef) value).id, scope, remember)
            } else {
                envVars.put(name, value)
            }
            if (record != null) {
                record[name] = value instanceof CredentialRef ? "credentials('${value.id}')".toString() : envVars.get(name)
            }
        }
        try {
            DslSupport.read(block, new EnvironmentReader(envVars, onSet))
        } catch (Throwable t) {
            closeEnvironment(scope)
            throw t
        }
        return scope
    }

    private void bindEnvironmentCredential(String name, String id, Map scope, Closure remember) {
        if (!credentialsMap.containsKey(id)) {
            throw new AbortException("Could not find credentials entry with ID '${id}'")
        }
        Object value = credentialsMap[id]
        List<Map> secrets = []
        if (value instanceof Map && ((Map) value).password != null) {
            Map up = (Map) value
            ["${name}_USR", "${name}_PSW"].each { remember(it.toString()) }
            envVars.put(name, "${up.username}:${up.password}")
            envVars.put("${name}_USR", up.username)
            envVars.put("${name}_PSW", up.password)
            secrets << [text: "${up.username}:${up.password}".toString(), id: id, variable: name]
            secrets << [text: up.password.toString(), id: id, variable: "${name}_PSW"]
        } else if (value instanceof Map && ((Map) value).content != null) {
            File dir = new File(workspace.path + '@tmp', "secretFiles/${UUID.randomUUID()}")
            dir.mkdirs()
            File f = new File(dir, (((Map) value).fileName ?: id).toString())
            f.setText(((Map) value).content.toString(), 'UTF-8')
            scope.files << dir
            envVars.put(name, f.path)
            secrets << [text: ((Map) value).content.toString(), id: id, variable: name]
        } else {
            envVars.put(name, value.toString())
            secrets << [text: value.toString(), id: id, variable: name]
        }
        secrets.removeAll { !(it.text as String) }
        scope.secrets.addAll(secrets)
        activeSecrets.addAll(secrets)
    }

    private void closeEnvironment(Map scope) {
        if (scope == null) {
            return
        }
        scope.saved.each { k, v -> envVars.put(k, v) }
        scope.absent.each { envVars.remove(it) }
        scope.secrets.each { s -> activeSecrets.removeAll { it.is(s) } }
        scope.files.each { ((File) it).deleteDir() }
    }

    // ------------------------------------------------------------------ results, files, log

    private static String resultFor(Throwable t) {
        return t instanceof FlowInterruptedException ? ((FlowInterruptedException) t).result : 'FAILURE'
    }

    private void markFailure(Throwable t) {
        currentBuild.result = resultFor(t)
    }

    private void setStageResult(String result) {
        if (stageStack) {
            Map ctx = stageStack[-1]
            ctx.result = CurrentBuild.worst(ctx.result as String, result)
        }
    }

    private static void rethrowIfHarnessError(Throwable t) {
        if (t instanceof HarnessAssertionError) {
            throw t
        }
    }

    private void logError(Throwable t) {
        if (t instanceof AbortException) {
            appendLog("ERROR: ${t.message}")
        } else if (t instanceof FlowInterruptedException) {
            return   // already logged where it happened ("Rejected by ...")
        } else {
            StringWriter sw = new StringWriter()
            t.printStackTrace(new PrintWriter(sw))
            List<String> lines = sw.toString().readLines()
            appendLog((lines.size() > 25 ? lines.take(25) + ['\t...'] : lines).join('\n'))
        }
    }

    File currentDir() {
        return dirStack ? dirStack[-1] : workspace
    }

    private File resolve(String path) {
        File f = new File(path)
        return (f.absolute ? f : new File(currentDir(), path)).toPath().normalize().toFile()
    }

    /** Appends a line to the console log, secrets masked as ****. */
    void appendLog(Object text) {
        String s = String.valueOf(text)
        appendLogRaw(s.endsWith('\n') ? s : s + '\n')
    }

    private void appendLogRaw(String text) {
        if (!text) {
            return
        }
        String masked = mask(text)
        logBuffer.append(masked)
        if (echoLog) {
            System.out.print(masked)
        }
    }

    private String mask(String text) {
        String out = text
        activeSecrets.collect { it.text as String }.unique().sort { -it.length() }.each { String secret ->
            out = out.replace(secret, '****')
        }
        return out
    }

    private void initEnv() {
        envVars.putAll(System.getenv())
        String job = 'mlops-test'
        envVars.putAll([
            BUILD_NUMBER: currentBuild.number, BUILD_ID: currentBuild.number,
            BUILD_DISPLAY_NAME: currentBuild.displayName, BUILD_TAG: "jenkins-${job}-${currentBuild.number}",
            BUILD_URL: currentBuild.absoluteUrl, JOB_NAME: job, JOB_BASE_NAME: job,
            JOB_URL: "http://localhost:8080/job/${job}/", JENKINS_URL: 'http://localhost:8080/',
            WORKSPACE: workspace.path, EXECUTOR_NUMBER: '0', NODE_NAME: 'built-in',
        ])
        String version = readLibraryVersion(libraryRoot)
        if (version != null) {
            envVars.put("library.${libraryName}.version".toString(), "v${version}")
        }
    }

}
