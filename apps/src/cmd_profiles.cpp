// autostem profiles: the built-in timing profiles and their parameters.

#include "cli.hpp"

#include <autostem/sim/timing_profile.hpp>

#include <cstdio>
#include <iostream>

namespace autostem::cli {

int cmd_profiles(const std::vector<std::string>& args) {
  po::options_description o("autostem profiles options");
  o.add_options()("help,h", "this help")("profile", po::value<std::string>(),
                                         "show only this profile (name or file)");
  po::positional_options_description pos;
  pos.add("profile", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem profiles [NAME|FILE]\n"
            "Lists the instrument timing profiles and every parameter with its unit and source.\n"
            "Pass your own profile file to `run --profile` / `estimate --profile`.",
            &pos))
    return 0;
  std::vector<std::string> names = vm.count("profile")
                                       ? std::vector<std::string>{vm["profile"].as<std::string>()}
                                       : sim::TimingProfile::builtin_names();
  for (const auto& n : names) {
    const auto p = sim::TimingProfile::load(n);
    std::printf("%s — %s\n  file: %s\n", p.name.c_str(), p.description.c_str(), p.source_path.c_str());
    for (const auto& q : p.parameters())
      std::printf("    %-26s %12.6g %-6s %s\n", q.key.c_str(), q.value, q.unit.c_str(),
                  q.description.c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace autostem::cli
