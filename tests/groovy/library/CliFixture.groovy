/** A workspace, a harness, and the MOCK `mlops` (FakeMlops) answering in order, put in place through MLOPS_BIN. */
class CliFixture {

    final File ws = MlopsTestSupport.tempDir('ws-')
    final PipelineHarness h = MlopsTestSupport.harness(ws)
    final FakeMlops mlops

    CliFixture(List<Map> answers) {
        mlops = new FakeMlops(MlopsTestSupport.tempDir('fake-mlops-'), answers)
        h.env.MLOPS_BIN = mlops.bin.path
    }

    BuildResult run(String steps) {
        return h.runJenkinsfile("@Library('mlops') _\nnode { ${steps} }")
    }

}
