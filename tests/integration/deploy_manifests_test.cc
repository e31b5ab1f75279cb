// The Kubernetes manifests under deploy/k8s/ parse as YAML and hold what the
// deployment needs: one berthd replica with the Recreate strategy and its
// database on a PersistentVolumeClaim that exists, agents as a DaemonSet on
// GPU nodes, a Service, and a ServiceMonitor whose port the Service has.
// yaml-cpp reports parse errors by exception; the test catches them in one
// place and fails with the file and line.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace {

struct Object {
  std::string file;
  YAML::Node node;
};

// Every document of every deploy/k8s/*.yaml, keyed by "Kind/name".
std::map<std::string, Object> LoadManifests() {
  std::map<std::string, Object> objects;
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_K8S_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    std::string file = entry.path().filename().string();
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAllFromFile(entry.path().string());
    } catch (const YAML::Exception& error) {
      ADD_FAILURE() << file << ":" << error.mark.line + 1 << ": " << error.msg;
      continue;
    }
    for (const YAML::Node& doc : documents) {
      if (doc.IsNull()) continue;
      EXPECT_TRUE(doc["apiVersion"].IsScalar()) << file;
      EXPECT_TRUE(doc["kind"].IsScalar()) << file;
      EXPECT_TRUE(doc["metadata"]["name"].IsScalar()) << file;
      std::string kind = doc["kind"].Scalar();
      if (kind != "Namespace") {
        EXPECT_EQ(doc["metadata"]["namespace"].Scalar(), "berth") << file;
      }
      std::string key = kind + "/" + doc["metadata"]["name"].Scalar();
      EXPECT_EQ(objects.count(key), 0u) << key << " twice";
      objects[key] = Object{file, doc};
    }
  }
  return objects;
}

// The named container port names of a pod template.
std::set<std::string> PortNames(const YAML::Node& pod_spec) {
  std::set<std::string> names;
  for (const YAML::Node& container : pod_spec["containers"]) {
    for (const YAML::Node& port : container["ports"]) {
      if (port["name"]) names.insert(port["name"].Scalar());
    }
  }
  return names;
}

bool LabelsMatch(const YAML::Node& selector, const YAML::Node& labels) {
  if (!selector.IsMap() || selector.size() == 0) return false;
  for (const auto& entry : selector) {
    if (!labels[entry.first.Scalar()] ||
        labels[entry.first.Scalar()].Scalar() != entry.second.Scalar()) {
      return false;
    }
  }
  return true;
}

TEST(K8sManifestsTest, BerthdIsOneReplicaOnAClaimedVolume) {
  std::map<std::string, Object> objects = LoadManifests();
  ASSERT_EQ(objects.count("Deployment/berthd"), 1u);
  const YAML::Node deployment = objects["Deployment/berthd"].node;
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 1);
  EXPECT_EQ(deployment["spec"]["strategy"]["type"].Scalar(), "Recreate");
  const YAML::Node pod = deployment["spec"]["template"];
  EXPECT_TRUE(
      LabelsMatch(deployment["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]));
  int claims = 0;
  for (const YAML::Node& volume : pod["spec"]["volumes"]) {
    if (!volume["persistentVolumeClaim"]) continue;
    std::string claim = volume["persistentVolumeClaim"]["claimName"].Scalar();
    EXPECT_EQ(objects.count("PersistentVolumeClaim/" + claim), 1u) << claim;
    ++claims;
  }
  EXPECT_EQ(claims, 1);
  // The database file is on the mounted volume.
  const YAML::Node container = pod["spec"]["containers"][0];
  std::string mount = container["volumeMounts"][0]["mountPath"].Scalar();
  bool db_on_volume = false;
  for (const YAML::Node& arg : container["command"]) {
    if (arg.Scalar().rfind("--db=" + mount + "/", 0) == 0) db_on_volume = true;
  }
  EXPECT_TRUE(db_on_volume) << "--db is not under " << mount;
}

TEST(K8sManifestsTest, AgentsRunOnGpuNodes) {
  std::map<std::string, Object> objects = LoadManifests();
  ASSERT_EQ(objects.count("DaemonSet/berth-agent"), 1u);
  const YAML::Node pod = objects["DaemonSet/berth-agent"].node["spec"]["template"];
  EXPECT_EQ(pod["spec"]["nodeSelector"]["nvidia.com/gpu.present"].Scalar(), "true");
  bool tolerates_gpu_taint = false;
  for (const YAML::Node& toleration : pod["spec"]["tolerations"]) {
    if (toleration["key"].Scalar() == "nvidia.com/gpu") {
      tolerates_gpu_taint = true;
    }
  }
  EXPECT_TRUE(tolerates_gpu_taint);
  // The agent finds berthd through the Service.
  bool daemon_is_service = false;
  for (const YAML::Node& arg : pod["spec"]["containers"][0]["command"]) {
    if (arg.Scalar() == "--daemon=berthd.berth.svc:7070") daemon_is_service = true;
  }
  EXPECT_TRUE(daemon_is_service);
  EXPECT_EQ(objects.count("Service/berthd"), 1u);
}

TEST(K8sManifestsTest, ServiceMonitorScrapesTheMetricsPort) {
  std::map<std::string, Object> objects = LoadManifests();
  ASSERT_EQ(objects.count("ServiceMonitor/berthd"), 1u);
  ASSERT_EQ(objects.count("Service/berthd"), 1u);
  const YAML::Node monitor = objects["ServiceMonitor/berthd"].node;
  const YAML::Node service = objects["Service/berthd"].node;
  EXPECT_TRUE(
      LabelsMatch(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]));
  std::set<std::string> service_ports;
  std::set<std::string> target_ports;
  for (const YAML::Node& port : service["spec"]["ports"]) {
    service_ports.insert(port["name"].Scalar());
    target_ports.insert(port["targetPort"].Scalar());
  }
  for (const YAML::Node& endpoint : monitor["spec"]["endpoints"]) {
    EXPECT_EQ(service_ports.count(endpoint["port"].Scalar()), 1u) << endpoint["port"].Scalar();
  }
  // The Service's target ports are the berthd container's named ports, and
  // it selects the berthd pods.
  const YAML::Node pod = objects["Deployment/berthd"].node["spec"]["template"];
  std::set<std::string> container_ports = PortNames(pod["spec"]);
  for (const std::string& target : target_ports) {
    EXPECT_EQ(container_ports.count(target), 1u) << target;
  }
  EXPECT_TRUE(LabelsMatch(service["spec"]["selector"], pod["metadata"]["labels"]));
  EXPECT_EQ(container_ports.count("metrics"), 1u);
}

}  // namespace
