"""The sandbox's demo county: directories (一单两库), the people who use the bot, the group.

Everything here is made up but shaped like a real county's data: the directories go through the
real importer (CSV, as an administrator would send them), the people are onboarded the way an
invitation link would leave them (a `people` row plus a liaison or inspector binding).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import clock, importer
from bot.db import Database
from bot.domain.credit_code import make_credit_code

COUNTY = "清河县"
GROUP_ID = -1001234500001
GROUP_TITLE = "清河县一业一查协调群"


@dataclass(frozen=True)
class Persona:
    """Someone the sandbox user can act as."""

    user_id: int
    name: str
    role: str  # "admin", "liaison" or "inspector"
    title: str  # shown under the name in the picker
    department: str | None = None  # department code (liaisons, inspectors)
    certificate: str | None = None  # inspectors: 执法证号
    in_group: bool = False  # a member of the coordination group

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.user_id,
            "name": self.name,
            "role": self.role,
            "title": self.title,
            "department": self.department,
            "in_group": self.in_group,
        }


ADMIN_ID = 1001

PERSONAS: tuple[Persona, ...] = (
    Persona(ADMIN_ID, "王建国", "admin", "管理员 · 县市场监管局信用监管股", in_group=True),
    Persona(2001, "李秀英", "liaison", "联络员 · 县民政局", "MZJ", in_group=True),
    Persona(2002, "张伟", "liaison", "联络员 · 县市场监管局", "SCJG", in_group=True),
    Persona(2003, "刘洋", "liaison", "联络员 · 县卫生健康委员会", "WJW", in_group=True),
    Persona(2004, "陈静", "liaison", "联络员 · 县消防救援大队", "XFJY", in_group=True),
    Persona(3001, "赵磊", "inspector", "执法检查人员 · 县市场监管局", "SCJG", "34112201001"),
    Persona(3002, "孙丽", "inspector", "执法检查人员 · 县民政局", "MZJ", "34112202001"),
    Persona(3003, "周强", "inspector", "执法检查人员 · 县卫生健康委员会", "WJW", "34112203001"),
)

DEPARTMENTS = """部门编码,部门名称
MZJ,县民政局
SCJG,县市场监管局
WJW,县卫生健康委员会
XFJY,县消防救援大队
ZJJ,县住房和城乡建设局
WLJ,县文化和旅游局
JYJ,县教育局
"""

ITEMS = """事项编码,事项名称,部门编码,抽查依据,检查方式,事项类别
MZ-01,养老机构安全管理检查,MZJ,《养老机构管理办法》,现场检查,重点
MZ-02,养老机构服务质量检查,MZJ,《养老机构服务质量基本规范》,书面核查,一般
SC-01,食品经营安全检查,SCJG,《中华人民共和国食品安全法》,现场检查,重点
SC-02,特种设备安全检查,SCJG,《中华人民共和国特种设备安全法》,现场检查,重点
SC-03,价格行为检查,SCJG,《中华人民共和国价格法》,书面核查,一般
WJ-01,公共场所卫生检查,WJW,《公共场所卫生管理条例》,现场检查,一般
WJ-02,医疗机构执业检查,WJW,《医疗机构管理条例》,现场检查,重点
XF-01,消防安全检查,XFJY,《中华人民共和国消防法》,现场检查,重点
ZJ-01,房屋建筑安全检查,ZJJ,《建设工程质量管理条例》,现场检查,一般
WL-01,娱乐场所经营检查,WLJ,《娱乐场所管理条例》,现场检查,一般
WL-02,互联网上网服务营业场所检查,WLJ,《互联网上网服务营业场所管理条例》,网络监测,一般
JY-01,民办学校办学行为检查,JYJ,《中华人民共和国民办教育促进法》,书面核查,一般
"""

# (name, industry, address, risk class, legal representative, phone)
_OBJECTS = (
    ("清河县夕阳红养老院", "养老机构", "清河镇康宁路18号", "B", "周桂兰", "0550-6012301"),
    ("清河县福寿康养中心", "养老机构", "城南街道福寿路6号", "C", "吴建华", "0550-6012302"),
    ("清河县颐和老年公寓", "养老机构", "河口镇颐和巷3号", "A", "郑小红", "0550-6012303"),
    ("清河县金色年华养护院", "养老机构", "城北街道金华路88号", "D", "冯志强", "0550-6012304"),
    ("清河县星光KTV有限公司", "KTV", "人民路166号3楼", "B", "何军", "0550-6012305"),
    ("清河县麦田歌城娱乐有限公司", "KTV", "文化路21号", "C", "高峰", "0550-6012306"),
    ("清河县极速网咖", "网吧", "学府路9号", "B", "罗晨", "0550-6012307"),
    ("清河县云端网络会所", "网吧", "新华街45号", "A", "梁宇", "0550-6012308"),
    ("清河县悦来宾馆", "宾馆旅店", "车站路2号", "B", "宋海燕", "0550-6012309"),
    ("清河县锦江之星商务酒店", "宾馆旅店", "中山路120号", "A", "唐明", "0550-6012310"),
    ("清河县第二实验小学食堂", "学校食堂", "育才路1号", "B", "韩雪", "0550-6012311"),
    ("清河县启明培训学校", "校外培训、民办学校", "学府路30号", "C", "许文", "0550-6012312"),
)


def objects_csv() -> str:
    lines = [
        "统一社会信用代码,企业名称,行业,地址,信用风险分类,分类月份,法定代表人,联系电话,经营状态"
    ]
    for n, (name, industry, address, risk, rep, phone) in enumerate(_OBJECTS, start=1):
        code = make_credit_code(f"91341122MA2{n:06d}")
        lines.append(f"{code},{name},{industry},{address},{risk},2026-06,{rep},{phone},存续")
    return "\n".join(lines) + "\n"


INSPECTORS = """姓名,所属部门编码,执法证号,证件有效期至,专业领域
赵磊,SCJG,34112201001,2029-12-31,食品安全、特种设备
钱芳,SCJG,34112201002,2028-06-30,价格监管、广告监管
孙丽,MZJ,34112202001,2029-03-31,养老服务
马超,MZJ,34112202002,2028-12-31,社会组织
周强,WJW,34112203001,2029-06-30,公共卫生、医疗执业
黄婷,WJW,34112203002,2028-09-30,公共卫生
林涛,XFJY,34112204001,2029-12-31,消防安全
朱敏,ZJJ,34112205001,2028-12-31,房屋安全
胡斌,WLJ,34112206001,2029-01-31,文化市场
郭红,JYJ,34112207001,2028-08-31,教育督导
"""


async def seed_directories(db: Database) -> None:
    """The four directories, through the real importer (all-or-nothing, like a real upload)."""
    for kind, text in (
        ("departments", DEPARTMENTS),
        ("items", ITEMS),
        ("objects", objects_csv()),
        ("inspectors", INSPECTORS),
    ):
        report = await importer.import_file(db, kind, f"{kind}.csv", text.encode("utf-8"))
        if not report.ok:  # pragma: no cover - the demo data is fixed
            raise RuntimeError(f"demo {kind} did not import: {report}")


async def seed_people(db: Database) -> None:
    """Everyone onboarded, as if they had opened their invitation links."""
    now = clock.now_db()
    async with db.transaction() as conn:
        for persona in PERSONAS:
            cursor = await conn.execute(
                "INSERT INTO people (tg_user_id, full_name, is_admin, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (persona.user_id, persona.name, int(persona.role == "admin"), now, now),
            )
            inserted = await cursor.fetchone()
            person_id = int(inserted[0]) if inserted else 0
            if persona.role == "liaison":
                await conn.execute(
                    "INSERT INTO liaisons (person_id, department_code, created_at)"
                    " VALUES (?, ?, ?)",
                    (person_id, persona.department, now),
                )
            elif persona.role == "inspector":
                await conn.execute(
                    "UPDATE inspectors SET person_id = ? WHERE certificate_no = ?",
                    (person_id, persona.certificate),
                )
